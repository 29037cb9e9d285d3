"""Accounts: registration, confirmation, login, password reset."""
