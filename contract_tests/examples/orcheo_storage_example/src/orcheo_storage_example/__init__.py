"""A minimal third-party Orcheo storage backend (worked example of the contract suite)."""
