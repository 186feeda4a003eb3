from django.urls import include, path

from sinfonia.api.v1 import api
from sinfonia.web import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/", api.urls),
    path("dicom-web/", include("sinfonia.dicom.dicomweb.urls")),
    path("", views.home, name="home"),
    path("", include("sinfonia.web.urls")),
]
