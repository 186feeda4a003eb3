from __future__ import annotations

from django.db import models


class LoginFailure(models.Model):
    """One failed log-in (wrong password or code), on any front-end: the portal, the API's
    session log-in, SFTP. Failures in the last ``SINFONIA_LOGIN_LOCKOUT_MINUTES`` are counted
    per account name and per client address (`sinfonia.accounts.services.login`); older rows
    are deleted as new ones come.

    ``username`` is stored lower-cased and need not name an account (guessing names counts too).
    """

    username = models.CharField(max_length=150, db_index=True)
    client = models.CharField(max_length=255, db_index=True)
    channel = models.CharField(max_length=20)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.username} from {self.client} at {self.at:%Y-%m-%d %H:%M:%S}"
