from django.apps import AppConfig


class ClearanceConfig(AppConfig):
    name = "clearance"
    verbose_name = "Platform (audit, outbox, tokens)"

    def ready(self) -> None:
        from clearance import checks, schema  # noqa: F401 - register the deploy checks and the OpenAPI auth extension

