"""Governance models, one module per domain; importing them here registers them with the app."""

from governance.models.decisions import DecisionRecord
from governance.models.exports import DocumentExport
from governance.models.gate import UNTRUSTED_FACTS, FactsVersion, GateCheck, ReadinessVerdict
from governance.models.policy import PolicyActivation, PolicyVersion
from governance.models.reviews import Review, ReviewReminder
from governance.models.waivers import Waiver

__all__ = ["UNTRUSTED_FACTS", "DecisionRecord", "DocumentExport", "FactsVersion", "GateCheck", "PolicyActivation", "PolicyVersion", "ReadinessVerdict", "Review", "ReviewReminder", "Waiver"]
