"""Stripe's ``/v1`` API, one module per resource, each a mixin of the emulator's state."""
