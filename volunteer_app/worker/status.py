"""What a job's owner may see of it: its state and progress, and its result file once done. Anyone
else gets 404, exactly as for a job that does not exist."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import select

from volunteer_app.db import utcnow
from volunteer_app.errors import Gone, NotFound, register_messages
from volunteer_app.extensions import db
from volunteer_app.pagination import paginate
from volunteer_app.worker.models import WorkItem, WorkState
from volunteer_app.worker.queue import result_pieces

if TYPE_CHECKING:
    from volunteer_app.auth.tokens import Principal

register_messages(
    {
        "job.no_result": (
            "任务尚未完成，或没有可下载的结果",
            "The job has not finished, or has no file to download",
        ),
        "job.result_expired": (
            "结果文件已过期删除，请重新导出",
            "The result file has expired and was deleted: run the export again",
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


def _expired(item: WorkItem) -> bool:
    return item.result_expires_at is not None and item.result_expires_at <= utcnow()


def _job(item: WorkItem) -> dict:
    has_file = item.state == WorkState.DONE and item.result_name is not None and not _expired(item)
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
        "result_size": item.result_size if has_file else None,
        "result_expires_at": item.result_expires_at if item.result_name is not None else None,
    }


def get_result(*, who: Principal, job_id: int) -> tuple[str, str, int | None, Iterator[bytes]]:
    """The caller's finished job's file: (name, content type, size if known, its bytes in pieces to
    stream); 404 until it is done, 410 once it expired (`[worker] result_keep_days`)."""
    item = _owned(who, job_id)
    if item.state != WorkState.DONE or item.result_name is None:
        raise NotFound("job.no_result")
    if _expired(item):
        raise Gone("job.result_expired")
    size = item.result_size if item.result_size is not None else len(item.result_bytes or b"")
    pieces = result_pieces(item.id, item.result_chunks or 0, item.result_bytes)
    return item.result_name, item.result_type or "application/octet-stream", size, pieces
