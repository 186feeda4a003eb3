"""Contact: a form with attachments for signed-in users, the support address for visitors;
the messages received, for site administrators."""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from sinfonia.core import errors
from sinfonia.core.http import SANDBOX_POLICY
from sinfonia.support.models import PageSlug, Topic
from sinfonia.support.services import contact, pages
from sinfonia.web.common import actor, portal_view


def contact_page(request: HttpRequest) -> HttpResponseBase:
    if not request.user.is_authenticated:
        return render(request, "web/page.html", {"page": pages.get_page(PageSlug.CONTACT)})
    return _contact_form(request)


@portal_view
def _contact_form(request: HttpRequest) -> HttpResponse:
    a = actor(request)
    values = {"topic": Topic.SUPPORT.value, "subject": "", "body": ""}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in values}
        uploads = [
            contact.Upload(
                name=f.name or "attachment",
                content_type=f.content_type or "application/octet-stream",
                size=f.size or 0,
                stream=f.file,  # type: ignore[arg-type]
            )
            for f in request.FILES.getlist("attachments")
        ]
        try:
            contact.send_message(a, files=uploads, **values)
        except errors.Invalid as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Thank you: your message was sent to the administrators."))
            return redirect("contact")
    return render(
        request,
        "web/contact.html",
        {"topics": Topic.choices, "values": values, "max_files": contact.MAX_ATTACHMENTS},
    )


@portal_view
def inbox(request: HttpRequest) -> HttpResponse:
    listed = contact.list_messages(actor(request))[:200]
    return render(request, "web/inbox.html", {"messages_received": listed})


@portal_view
def attachment(request: HttpRequest, attachment_id: int) -> HttpResponseBase:
    found, path = contact.open_attachment(actor(request), attachment_id)
    response = FileResponse(
        open(path, "rb"),  # noqa: SIM115 (FileResponse closes it)
        as_attachment=True,
        filename=found.name,
        content_type="application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX_POLICY
    return response
