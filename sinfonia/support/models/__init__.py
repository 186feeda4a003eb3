from sinfonia.support.models.contact import ContactAttachment, ContactMessage, Topic
from sinfonia.support.models.page import PageSlug, PolicyAcceptance, SitePage

__all__ = [
    "ContactAttachment",
    "ContactMessage",
    "PageSlug",
    "PolicyAcceptance",
    "SitePage",
    "Topic",
]
