"""The `vaultline` command: thin wrappers that parse arguments and render results."""
