"""People and permissions: accounts, passwords and API tokens, browser sessions,
workspaces and their members."""
