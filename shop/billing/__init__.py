"""Billing: checkout, webhooks, subscriptions, refunds, the customer portal and access."""
