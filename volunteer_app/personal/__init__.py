"""A person's own data across every domain: the download of everything held about them (GET /me/export)
and closing their account (POST /me/close). It reads and changes every domain, so it sits above them
(pyproject.toml's import layers); the retention job's settings and what it purges: jobs.py here."""
