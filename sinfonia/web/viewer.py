"""The OHIF Viewer at ``/viewer/`` (issue 5, "open study in viewer").

The prebuilt app of the npm package ``@ohif/app``, which scripts/build-static copies into
``static/vendor/ohif/``, served behind sign-in. Its configuration (``app-config.js``) is made
here: one DICOMweb data source, this server's ``/dicom-web``, on the same origin, so that the
browser's session cookie authenticates every request and the DICOMweb service applies the
user's permissions as for any other client. ``/viewer/viewer?StudyInstanceUIDs=<uid>`` opens a
study; ``/viewer/`` lists the studies the user may see.

The built ``index.html`` expects to live at the site root: its links are rewritten to
``/viewer/`` and its two inline scripts move into ``init.js``, so that the viewer's own
Content-Security-Policy (``CSP``, sent with every response here) needs no ``'unsafe-inline'``
for scripts. OHIF compiles WebAssembly codecs and starts web workers from ``blob:`` URLs, which
the portal's stricter policy would refuse.
"""

from __future__ import annotations

import json
import mimetypes
import re
from functools import cache
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.views.decorators.http import require_GET

PREFIX = "/viewer/"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval' blob:",
        "worker-src 'self' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self' blob: data:",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ]
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_SERVICE_WORKER = re.compile(r'<script[^>]*src="/init-service-worker\.js"[^>]*></script>')
_ROOT_LINK = re.compile(r'\b(href|src)="/(?!/)')
mimetypes.add_type("application/wasm", ".wasm")


def app_dir() -> Path:
    return Path(settings.BASE_DIR) / "web" / "static" / "vendor" / "ohif"


def installed() -> bool:
    """Whether scripts/build-static has put the viewer in place."""
    return (app_dir() / "index.html").is_file()


@cache
def _built(directory: Path) -> tuple[bytes, bytes]:
    """(index.html, init.js) of the built app, rewritten to live under ``PREFIX``."""
    html = (directory / "index.html").read_text(encoding="utf-8")
    scripts = [m.group(1) for m in _INLINE_SCRIPT.finditer(html)]
    init = ";\n".join(
        s.replace('window.PUBLIC_URL="/"', f"window.PUBLIC_URL={PREFIX!r}") for s in scripts
    )
    first = True

    def move(match: re.Match[str]) -> str:
        nonlocal first
        if first:
            first = False
            return '<script src="/init.js"></script>'  # made /viewer/init.js below
        return ""

    html = _INLINE_SCRIPT.sub(move, html)
    html = _SERVICE_WORKER.sub("", html)  # no service worker: nothing of it would be used
    html = _ROOT_LINK.sub(lambda m: f'{m.group(1)}="{PREFIX}', html)
    return html.encode("utf-8"), (init + ";\n").encode("utf-8")


def app_config(request: HttpRequest) -> str:
    """``window.config`` of the viewer: this server's DICOMweb service as its one data source."""
    root = request.build_absolute_uri("/dicom-web").rstrip("/")
    source = {
        "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
        "sourceName": "sinfonia",
        "configuration": {
            "friendlyName": "Sinfonia",
            "name": "sinfonia",
            "wadoUriRoot": root,
            "qidoRoot": root,
            "wadoRoot": root,
            "qidoSupportsIncludeField": True,
            "supportsReject": False,
            "dicomUploadEnabled": False,
            "imageRendering": "wadors",
            "thumbnailRendering": "wadors",
            "enableStudyLazyLoad": True,
            "supportsFuzzyMatching": False,
            "supportsWildcard": True,
            "staticWado": False,
            "singlepart": "bulkdata,video",
            "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
            "omitQuotationForMultipartRequest": True,
        },
    }
    config = {
        "routerBasename": PREFIX.rstrip("/"),
        "extensions": [],
        "modes": [],
        "showStudyList": True,
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "investigationalUseDialog": {"option": "never"},
        "defaultDataSourceName": "sinfonia",
        "dataSources": [source],
    }
    return f"window.config = {json.dumps(config, indent=2)};\n"


def _own_policy(response: HttpResponseBase) -> HttpResponseBase:
    response["Content-Security-Policy"] = CSP
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
@login_required
def viewer(request: HttpRequest, path: str = "") -> HttpResponseBase:
    """A file of the built app, the generated ``app-config.js`` and ``init.js``, or, for any
    other path (the app's own routes), its ``index.html``."""
    directory = app_dir()
    if not installed():
        raise Http404("The viewer is not installed (scripts/build-static).")
    index, init = _built(directory)
    if path == "app-config.js":
        return _own_policy(
            HttpResponse(app_config(request), content_type="text/javascript; charset=utf-8")
        )
    if path == "init.js":
        return _own_policy(HttpResponse(init, content_type="text/javascript; charset=utf-8"))
    if path and path != "index.html":
        target = (directory / path).resolve()
        if target.is_relative_to(directory.resolve()) and target.is_file():
            content_type, _ = mimetypes.guess_type(target.name)
            response = FileResponse(
                open(target, "rb"),  # noqa: SIM115 (FileResponse closes it)
                content_type=content_type or "application/octet-stream",
            )
            response["Cache-Control"] = "private, max-age=3600"
            return _own_policy(response)
        if "." in path.rsplit("/", 1)[-1]:  # a missing file, not one of the app's routes
            raise Http404("No such file in the viewer.")
    page = HttpResponse(index, content_type="text/html; charset=utf-8")
    page["Cache-Control"] = "no-store"
    return _own_policy(page)


def study_url(study_instance_uid: str) -> str:
    """Where the viewer opens one study."""
    return f"{reverse('viewer')}viewer?StudyInstanceUIDs={study_instance_uid}"
