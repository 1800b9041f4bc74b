from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning (SCIM)"

    def ready(self) -> None:
        # The settings module cannot import clearance.roles (it imports the auth models), so a role name
        # in SCIM_GROUP_ROLES is checked here, in every process, before the first request.
        from django.conf import settings

        from clearance.roles import Role

        known = {role.value for role in Role}
        for group, roles in settings.SCIM_GROUP_ROLES.items():
            unknown = sorted(set(roles) - known)
            if unknown:
                raise ImproperlyConfigured(
                    f"SCIM_GROUP_ROLES: the group {group!r} names unknown role(s) {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(known))}")
