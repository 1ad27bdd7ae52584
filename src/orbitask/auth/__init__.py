"""The Auth service: users, credentials, tokens, workspaces, memberships, policy."""
