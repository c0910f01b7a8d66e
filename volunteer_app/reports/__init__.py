"""Statistics (统计), rankings (考核) and the rollups they read: see docs/statistics.md."""
