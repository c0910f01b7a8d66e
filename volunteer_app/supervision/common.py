"""What the four supervision records (items, complaints, appeals, follow-ups) share."""

from __future__ import annotations

NOTE_MAX = 1000  # SupervisionEvent.note's length


def clip(text: str | None) -> str | None:
    """`text` as a timeline note keeps it: whole if it fits, else cut with an ellipsis (the record
    itself keeps it whole)."""
    if text is None or len(text) <= NOTE_MAX:
        return text
    return text[: NOTE_MAX - 1] + "…"
