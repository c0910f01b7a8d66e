"""Activities (活动) with sign-ups (报名) and a waitlist, and the service-day rules (志愿服务日) that
generate them. Attendance and audit go through `volunteer_app.attendance`, as for orders."""
