from django.apps import AppConfig


class ClearanceConfig(AppConfig):
    name = "clearance"
    verbose_name = "Platform (audit, outbox, tokens)"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from clearance import schema  # noqa: F401 - registers the OpenAPI auth extension
        from clearance.signin import audit_lockout

        user_locked_out.connect(audit_lockout, dispatch_uid="clearance.audit_lockout")
