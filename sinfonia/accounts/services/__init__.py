"""Writes on accounts: users, groups and memberships, API keys."""
