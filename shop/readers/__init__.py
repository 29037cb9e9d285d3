"""Readers' mail settings pages: preferences, the digest preview, unsubscribe."""
