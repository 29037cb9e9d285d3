"""The catalogue: products and their prices, the shop page, and the back office's rules."""
