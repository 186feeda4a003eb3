from django.contrib.auth import views as auth_views
from django.urls import path

from sinfonia.web import browse, contact, people, viewer, views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="web/login.html", redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("privacy/accept/", views.privacy_accept, name="privacy-accept"),
    path("pages/<slug:slug>/", views.site_page, name="page"),
    path("pages/<slug:slug>/edit/", views.edit_page, name="page-edit"),
    path("contact/", contact.contact_page, name="contact"),
    path("support/messages/", contact.inbox, name="inbox"),
    path("support/attachments/<int:attachment_id>/", contact.attachment, name="attachment"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("my-folder/", views.my_folder, name="my-folder"),
    path("r/<int:node_id>/", browse.node_page, name="node"),
    path("r/<int:node_id>/children/", browse.children, name="children"),
    path("r/<int:node_id>/preview/", browse.preview, name="preview"),
    path("users/", people.user_list, name="users"),
    path("groups/", people.group_list, name="groups"),
    path("groups/<int:group_id>/", people.group_detail, name="group"),
    path("groups/<int:group_id>/members/", people.group_member, name="group-member"),
    path("profile/", people.profile, name="profile"),
    path("trash/", people.trash_page, name="trash"),
    path("sftp/", views.sftp_page, name="sftp"),
    path("viewer/", viewer.viewer, name="viewer"),
    path("viewer/<path:path>", viewer.viewer, name="viewer-file"),
]
