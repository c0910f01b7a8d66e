"""The job scheduler: infrastructure that runs periodic jobs, each occurrence exactly once.

It imports no domain. A domain declares its jobs in its own `jobs.py` as `Job(...)` values (registry.py);
volunteer_app/jobs.py lists them all and create_app hands that tuple to `registry.init_app`. Then
runner.py runs what is due (the `job_runs` claims of models.py), process.py fires jobs on their cron
times (`flask scheduler run`, or a thread of the development server) and cli.py is `flask scheduler`.
"""
