"""Who is calling: tokens, sessions, passwords, SMS login codes (the low part, importing only core),
and the registration and login flows (service, views, schemas: above accounts and sites)."""
