"""Accounts: users, role grants, volunteer profiles and applications, managers and team members,
and the principal loader that tells auth who a token names."""
