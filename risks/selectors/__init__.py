"""Reads of the register beyond one queryset, one module per domain."""

from risks.selectors.risks import Cell, HeatMap, band, heat_map, risk_gaps

__all__ = ["Cell", "HeatMap", "band", "heat_map", "risk_gaps"]
