"""The practice-site tree (center → institute → station), teams, the service catalogue, site settings
and the one reach helper."""
