from sinfonia.accounts.models.apikey import ApiKey, Scope
from sinfonia.accounts.models.group import Group, Membership, Role
from sinfonia.accounts.models.sshkey import SshKey
from sinfonia.accounts.models.user import User

__all__ = ["ApiKey", "Group", "Membership", "Role", "Scope", "SshKey", "User"]
