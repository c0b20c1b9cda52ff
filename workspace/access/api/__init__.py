"""The API of accounts, tokens, workspaces and members."""
