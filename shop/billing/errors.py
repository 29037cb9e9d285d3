"""Billing's one error: a rule was broken, or Stripe could not do what was asked."""

from shop.errors import RuleError


class BillingError(RuleError):
    """A billing rule was broken, or Stripe could not do what was asked."""
