from django.apps import AppConfig


class RisksConfig(AppConfig):
    name = "risks"
    verbose_name = "Risks"

    def ready(self) -> None:
        # catalog may not import risks (catalog <- risks <- governance): the register adds its rows to
        # the ownership-gaps report through catalog's registry instead.
        from catalog.selectors.gaps import register_gaps_contributor
        from risks.selectors import risk_gaps

        register_gaps_contributor(risk_gaps)
