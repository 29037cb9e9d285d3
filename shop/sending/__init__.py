"""The sending engine: the delivery ledger, runs, leases, commit groups and fan-out to
workers. It knows nothing of digests or newsletters: they hand it content."""
