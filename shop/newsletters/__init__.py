"""Newsletters: compose, audience, send, schedule and the public archive."""
