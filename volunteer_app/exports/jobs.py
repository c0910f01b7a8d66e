"""The export's kind of queued work (listed in volunteer_app/jobs.py WORK)."""

from __future__ import annotations

from volunteer_app.exports.service import WORK_KIND, run_export
from volunteer_app.worker.registry import Work

EXPORT = Work(
    kind=WORK_KIND,
    run=run_export,
    description="make an export's CSV or XLSX file (exports/service.py run_export)",
    max_attempts=3,
)
