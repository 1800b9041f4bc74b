"""Forms of the register, one module per domain."""

from risks.forms.risks import AcceptanceForm, RiskForm

__all__ = ["AcceptanceForm", "RiskForm"]
