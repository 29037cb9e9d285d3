"""Bounce and complaint reports from the mail provider: the addresses they stop."""
