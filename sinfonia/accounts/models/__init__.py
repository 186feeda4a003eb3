from sinfonia.accounts.models.apikey import ApiKey, Scope
from sinfonia.accounts.models.group import Group, Membership, Role
from sinfonia.accounts.models.loginfailure import LoginFailure
from sinfonia.accounts.models.sshkey import SshKey
from sinfonia.accounts.models.twofactor import RecoveryCode, TwoFactor
from sinfonia.accounts.models.user import User

__all__ = [
    "ApiKey",
    "Group",
    "LoginFailure",
    "Membership",
    "RecoveryCode",
    "Role",
    "Scope",
    "SshKey",
    "TwoFactor",
    "User",
]
