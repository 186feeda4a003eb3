from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "sinfonia.web"
    label = "web"
    verbose_name = "Web portal"

    def ready(self) -> None:
        from sinfonia.core import checks  # noqa: F401  (registers the deployment checks)
