"""Resources of the DICOMweb service (PS3.18 Tables 10.4.1-1 to 10.4.1-4, 10.5.1-1, 10.6.1-1),
included at ``/dicom-web/``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from sinfonia.dicom.dicomweb import qido, stow, wado

app_name = "dicomweb"


@csrf_exempt  # each view below checks CSRF itself (exempt for Bearer requests only)
def _studies(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    """GET searches for studies (QIDO-RS), POST stores instances (STOW-RS)."""
    if request.method == "POST":
        return stow.store_instances(request, *args, **kwargs)
    return qido.search_studies(request, *args, **kwargs)


@csrf_exempt
def _study(request: HttpRequest, study: str) -> HttpResponseBase:
    """GET retrieves a study (WADO-RS), POST stores instances of that study (STOW-RS)."""
    if request.method == "POST":
        return stow.store_instances(request, study=study)
    return wado.study_instances(request, study=study)


INSTANCE = "studies/<str:study>/series/<str:series>/instances/<str:sop>"

urlpatterns = [
    path("studies", _studies, name="studies"),
    path("series", qido.search_all_series, name="all-series"),
    path("instances", qido.search_all_instances, name="all-instances"),
    path("studies/<str:study>", _study, name="study"),
    path("studies/<str:study>/metadata", wado.study_metadata, name="study-metadata"),
    path("studies/<str:study>/thumbnail", wado.study_thumbnail, name="study-thumbnail"),
    path("studies/<str:study>/series", qido.search_study_series, name="study-series"),
    path("studies/<str:study>/instances", qido.search_study_instances, name="study-instances"),
    path("studies/<str:study>/series/<str:series>", wado.series_instances, name="series"),
    path(
        "studies/<str:study>/series/<str:series>/metadata",
        wado.series_metadata,
        name="series-metadata",
    ),
    path(
        "studies/<str:study>/series/<str:series>/thumbnail",
        wado.series_thumbnail,
        name="series-thumbnail",
    ),
    path(
        "studies/<str:study>/series/<str:series>/instances",
        qido.search_series_instances,
        name="series-instances",
    ),
    path(INSTANCE, wado.instance, name="instance"),
    path(f"{INSTANCE}/metadata", wado.instance_metadata, name="instance-metadata"),
    path(f"{INSTANCE}/rendered", wado.instance_rendered, name="instance-rendered"),
    path(f"{INSTANCE}/thumbnail", wado.instance_thumbnail, name="instance-thumbnail"),
    path(f"{INSTANCE}/frames/<str:frames>", wado.frames, name="frames"),
    path(f"{INSTANCE}/frames/<str:frames>/rendered", wado.frames_rendered, name="frames-rendered"),
    path(
        f"{INSTANCE}/frames/<str:frames>/thumbnail", wado.frames_thumbnail, name="frames-thumbnail"
    ),
    path(f"{INSTANCE}/bulkdata/<str:tag>", wado.bulkdata, name="bulkdata"),
]
