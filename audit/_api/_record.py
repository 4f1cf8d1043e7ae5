"""A run's progress, for a supervisor in another thread (the CLI's time budget): :func:`recording`, :func:`set_stage`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from audit.report import Report
from audit.section import Section


@dataclass
class RunRecord:
    """What a run has done so far, for a supervisor in another thread (the CLI's time budget).

    ``stage`` says what is running; ``sections`` holds each check's section once it finished; ``partial`` builds
    a report of the finished sections (the unfinished checks as error sections saying why) once checks started.
    """

    stage: str = "starting"
    sections: dict[str, Section] = field(default_factory=dict)
    partial: Callable[[str], Report] | None = None


_RECORD: ContextVar[RunRecord | None] = ContextVar("audit_run_record", default=None)


@contextmanager
def recording() -> Iterator[RunRecord]:
    """Record the progress of the audits run inside the ``with`` block (same thread) in the yielded
    :class:`RunRecord`, which another thread may read."""
    record = RunRecord()
    token = _RECORD.set(record)
    try:
        yield record
    finally:
        _RECORD.reset(token)


def set_stage(stage: str) -> None:
    """Say what the run is doing now (read by a supervisor through :func:`recording`); no-op otherwise."""
    record = _RECORD.get()
    if record is not None:
        record.stage = stage


def current_record() -> RunRecord | None:
    """The record of the run in progress in this thread, or None when nobody is recording."""
    return _RECORD.get()
