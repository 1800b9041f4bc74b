from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance"

    def ready(self) -> None:
        # governance may not import compliance (compliance builds on it): the operator role and the
        # attestations join the gate's facts snapshot, and framework_controls its check types, here.
        from compliance import facts, gate
        from governance.selectors.facts import FactsExtension, register_facts_extension

        register_facts_extension(FactsExtension(facts.NAME, facts.columns, facts.collect))
        gate.register()
