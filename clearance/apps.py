from django.apps import AppConfig


class ClearanceConfig(AppConfig):
    name = "clearance"
    verbose_name = "Platform (audit, outbox, tokens)"

    def ready(self) -> None:
        from clearance import schema  # noqa: F401 - registers the OpenAPI auth extension
