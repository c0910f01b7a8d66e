"""Attendance shared by orders and activities: assignments, check-in/out, minutes, audit, and the
`/assignments/{id}/…` actions (views.py), which send each assignment to its owner's service."""
