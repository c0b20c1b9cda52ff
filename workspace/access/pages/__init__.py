"""Pages of logging in, the account, workspaces and members."""
