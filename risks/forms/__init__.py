"""Forms of the register, one module per domain."""

from risks.forms.incidents import ClassifyForm, IncidentFilterForm, IncidentForm, MoveForm, ReportForm
from risks.forms.risks import AcceptanceForm, RiskForm

__all__ = ["AcceptanceForm", "ClassifyForm", "IncidentFilterForm", "IncidentForm", "MoveForm", "ReportForm", "RiskForm"]
