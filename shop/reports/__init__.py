"""Back-office read models: order, subscriber and run lists, exports and the dashboard's
numbers."""
