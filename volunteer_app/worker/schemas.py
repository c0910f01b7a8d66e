"""Response shapes of the jobs endpoints."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.worker.models import WorkState


class JobOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"description": "What the job does (stable)"})
    state = ma.fields.String(
        required=True,
        metadata={
            "enum": [s.value for s in WorkState],
            "description": "queued, running, done; failed: the last try failed, tried again later; "
            "dead: given up after its attempts (see error)",
        },
    )
    done = ma.fields.Integer(required=True, metadata={"description": "Steps done so far"})
    total = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "Steps in all, once known"}
    )
    attempts = ma.fields.Integer(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    started_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    finished_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    error = ma.fields.String(allow_none=True, required=True, metadata={"description": "The last failure"})
    result = ma.fields.Dict(allow_none=True, required=True, metadata={"description": "A summary, when done"})
    result_url = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Where to download the result file, when done (null once expired)"},
    )
    result_size = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "The result file's size in bytes"}
    )
    result_expires_at = ma.fields.AwareDateTime(
        allow_none=True,
        required=True,
        metadata={"description": "When the result file is deleted (then the download answers 410)"},
    )
