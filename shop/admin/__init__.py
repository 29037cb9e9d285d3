"""The back office: views over the features' services, for admins only."""
