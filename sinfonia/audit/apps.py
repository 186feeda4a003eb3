from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "sinfonia.audit"
    label = "audit"
    verbose_name = "Audit"
