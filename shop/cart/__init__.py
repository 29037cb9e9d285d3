"""The cart: its lines, the signed cookie of an anonymous cart, the cart pages and the
widget on every page; and the order a cart becomes at checkout."""
