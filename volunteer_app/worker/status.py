"""What a job's owner may see of it: its state and progress, and its result file once done. Anyone
else gets 404, exactly as for a job that does not exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from volunteer_app.errors import NotFound, register_messages
from volunteer_app.extensions import db
from volunteer_app.pagination import paginate
from volunteer_app.worker.models import WorkItem, WorkState

if TYPE_CHECKING:
    from volunteer_app.auth.tokens import Principal

register_messages(
    {
        "job.no_result": (
            "任务尚未完成，或没有可下载的结果",
            "The job has not finished, or has no file to download",
        ),
    }
)


def _owned(who: Principal, job_id: int) -> WorkItem:
    item = db.session.scalar(select(WorkItem).where(WorkItem.id == job_id, WorkItem.owner_id == who.user_id))
    if item is None:
        raise NotFound()
    return item


def list_jobs(*, who: Principal, limit: int, cursor: str | None) -> dict:
    """The caller's jobs, newest first."""
    stmt = select(WorkItem).where(WorkItem.owner_id == who.user_id)
    page = paginate(stmt, [WorkItem.id], limit=limit, cursor=cursor, descending=True)
    page["items"] = [_job(item) for item in page["items"]]
    return page


def get_job(*, who: Principal, job_id: int) -> dict:
    """The caller's job: kind, state, progress, times, the last error, and where its result is."""
    return _job(_owned(who, job_id))


def _job(item: WorkItem) -> dict:
    has_file = item.state == WorkState.DONE and item.result_name is not None
    return {
        "id": item.id,
        "kind": item.kind,
        "state": item.state,
        "done": item.done,
        "total": item.total,
        "attempts": item.attempts,
        "created_at": item.created_at,
        "started_at": item.started_at,
        "finished_at": item.finished_at,
        "error": item.last_error,
        "result": item.result,
        "result_url": f"/api/v1/jobs/{item.id}/result" if has_file else None,
    }


def get_result(*, who: Principal, job_id: int) -> tuple[str, str, bytes]:
    """The caller's finished job's file: (name, content type, bytes); 404 until it is done."""
    item = _owned(who, job_id)
    if item.state != WorkState.DONE or item.result_name is None:
        raise NotFound("job.no_result")
    return item.result_name, item.result_type or "application/octet-stream", item.result_bytes or b""
