from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class AccountsConfig(AppConfig):
    name = "sinfonia.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from sinfonia.accounts import checks  # noqa: F401  (registers the system checks)

        if getattr(settings, "SINFONIA_LDAP", None) is None:
            return
        try:
            import django_auth_ldap  # noqa: F401
            import ldap  # noqa: F401
        except ImportError as exc:
            raise ImproperlyConfigured(
                "SINFONIA_LDAP_URL is set, but the LDAP support is not installed: "
                "pip install 'sinfonia[ldap]' (python-ldap builds against the Debian packages "
                "libldap2-dev and libsasl2-dev), or unset SINFONIA_LDAP_URL."
            ) from exc
