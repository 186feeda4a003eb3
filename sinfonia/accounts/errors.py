from __future__ import annotations

from enum import StrEnum


class AccountError(StrEnum):
    USER_NOT_FOUND = "user_not_found"
    USERNAME_TAKEN = "username_taken"
    INVALID_USERNAME = "invalid_username"
    WEAK_PASSWORD = "weak_password"
    DIRECTORY_ACCOUNT = "directory_account"  # the LDAP directory keeps this account's password
    GROUP_NOT_FOUND = "group_not_found"
    GROUP_NAME_TAKEN = "group_name_taken"
    NOT_GROUP_ADMIN = "not_group_admin"
    NOT_SITE_ADMIN = "not_site_admin"
    LAST_GROUP_ADMIN = "last_group_admin"
    SELF_LOCKOUT = "self_lockout"
    NOT_A_MEMBER = "not_a_member"
    API_KEY_NOT_FOUND = "api_key_not_found"
    INVALID_API_KEY = "invalid_api_key"
    LOGIN_REQUIRED = "login_required"
    SSH_KEY_NOT_FOUND = "ssh_key_not_found"
    INVALID_SSH_KEY = "invalid_ssh_key"
    SSH_KEY_TAKEN = "ssh_key_taken"
    BAD_CREDENTIALS = "bad_credentials"
    OTP_REQUIRED = "otp_required"
    BAD_OTP = "bad_otp"
    TOO_MANY_FAILURES = "too_many_failures"
    TWO_FACTOR_ON = "two_factor_on"
    TWO_FACTOR_OFF = "two_factor_off"
    TWO_FACTOR_REQUIRED = "two_factor_required"
