"""Background work: a queue in the database (work_items, enqueued in the caller's transaction), the
kinds of work and the drains the worker runs (registry.py), claiming, running, retrying and progress
(queue.py, runner.py), the worker process and its embedded thread (process.py, cli.py), and the
owner's view of a job (views.py: GET /jobs/{id} and its result). Imports no domain."""
