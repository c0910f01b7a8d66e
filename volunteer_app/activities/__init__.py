"""Activities (活动) with sign-ups (报名) and a waitlist, and the service-day rules (志愿服务日) that
generate them: service.py (publish, read, cancel), signups.py (报名 and the waitlist), attendance.py (the
/assignments actions on a sign-up, 审核), states.py (the status table), rules.py and service_days.py
(recurrence), jobs.py. Attendance itself is `volunteer_app.attendance`, as for orders."""
