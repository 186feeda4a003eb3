from django.contrib.auth import views as auth_views
from django.urls import path

from sinfonia.web import audit, auth, browse, contact, people, search, sftp, twofactor, views

urlpatterns = [
    path("login/", auth.login_page, name="login"),
    path("login/code/", auth.login_code, name="login-code"),
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
    path("users/<int:user_id>/", people.user_detail, name="user"),
    path("groups/", people.group_list, name="groups"),
    path("groups/<int:group_id>/", people.group_detail, name="group"),
    path("groups/<int:group_id>/members/", people.group_member, name="group-member"),
    path("profile/", people.profile, name="profile"),
    path("profile/two-factor/", twofactor.two_factor, name="two-factor"),
    path("profile/sessions/end/", auth.end_all_sessions, name="end-sessions"),
    path("trash/", people.trash_page, name="trash"),
    path("sftp/", sftp.sftp_page, name="sftp"),
    path("sftp/destinations/", sftp.destinations, name="sftp-destinations"),
    path("sftp/default-name/", sftp.default_name, name="sftp-default-name"),
    path("search/", search.search_page, name="search"),
    path("search/results/", search.search_results, name="search-results"),
    path("search/advanced/", search.advanced, name="search-advanced"),
    path("audit/", audit.audit_page, name="audit"),
]
