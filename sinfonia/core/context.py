"""Who is acting, and through which front-end: passed to every service call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sinfonia.core.errors import CoreError, PermissionDenied

if TYPE_CHECKING:
    from sinfonia.accounts.models import User


@dataclass(frozen=True, slots=True)
class Actor:
    """The authenticated principal behind a service call.

    ``user`` is None only for anonymous requests, which may reach nothing but public pages.
    ``channel`` names the front-end ("api", "web", "cli", "sftp", "dicomweb", "dimse") and
    ``client`` where the request came from (IP address, AE title, "local"); both go to audit.
    ``read_only`` is set when the request was authenticated with a read-only API key: every
    service that changes something calls `require_write` (`resources.access` does for WRITE and
    ADMIN levels, and `audit.services.record` refuses any write event as a last line).
    """

    user: User | None
    channel: str
    client: str = ""
    system: bool = False
    read_only: bool = False

    @classmethod
    def local_system(cls) -> Actor:
        """The operator at the server's console (``sinfonia`` CLI run without ``--as``)."""
        return cls(user=None, channel="cli", client="local", system=True)

    def require_write(self) -> None:
        """Raise PermissionDenied when the actor may only read (a read-only API key)."""
        if self.read_only:
            raise PermissionDenied(
                CoreError.READ_ONLY_KEY, "This API key is read-only; use a read-write key."
            )

    @property
    def is_site_admin(self) -> bool:
        if self.system:
            return True
        return bool(self.user is not None and self.user.is_active and self.user.is_superuser)

    @property
    def is_authenticated(self) -> bool:
        return self.system or (self.user is not None and self.user.is_active)

    @property
    def username(self) -> str:
        if self.user is not None:
            return self.user.username
        return "system" if self.system else "anonymous"
