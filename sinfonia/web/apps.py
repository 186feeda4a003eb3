from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "sinfonia.web"
    label = "web"
    verbose_name = "Web portal"
