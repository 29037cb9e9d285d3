"""Posting what the shop sells: shipping rates, the address an order is sent to, and the
back office's queue of orders to post."""
