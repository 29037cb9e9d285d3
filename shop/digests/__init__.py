"""Digests and instant notices: which new articles each reader gets, rendered and sent."""
