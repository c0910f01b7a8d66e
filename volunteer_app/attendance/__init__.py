"""Attendance shared by orders and (later) activities: assignments, check-in/out, minutes, audit."""
