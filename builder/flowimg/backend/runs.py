"""Flow-run records: one row per run, whoever started it (`flowimg run`, an agent, a schedule)."""
from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime, timezone

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional, Sequence

SCHEDULED, SUBMITTED, RUNNING = "Scheduled", "Submitted", "Running"
SUCCESS, FAILED, CANCELLED, LOST = "Success", "Failed", "Cancelled", "Lost"
STATES = (SCHEDULED, SUBMITTED, RUNNING, SUCCESS, FAILED, CANCELLED, LOST)
FINISHED = (SUCCESS, FAILED, CANCELLED, LOST)
ACTIVE = (SCHEDULED, SUBMITTED, RUNNING)
# One fixed width with microseconds, so text comparison in SQL orders times.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class FlowRun:
    id: str
    version_id: str
    project: str
    flow: str
    version: int
    parameters: dict
    state: str
    scheduled_time: Optional[str]
    start_time: Optional[str]
    end_time: Optional[str]
    target: str
    image: str
    node: str
    exit_code: Optional[int]
    log_tail: List[str]
    agent: str
    heartbeat: Optional[str]
    attempt: int
    labels: List[str]
    created_at: str
    idempotency_key: Optional[str]


RUN_COLUMN_NAMES = tuple(field.name for field in fields(FlowRun))
RUN_COLUMNS = ", ".join(RUN_COLUMN_NAMES)
RUN_JSON_FIELDS = ("parameters", "log_tail", "labels")
# What update_run may change; identity, labels and times of creation stay as created.
UPDATABLE = ("state", "start_time", "end_time", "node", "exit_code", "log_tail", "image", "target",
             "heartbeat", "agent")


def iso(dt: datetime) -> str:
    """UTC text in the one stored format; a naive datetime is taken as UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime(TIME_FORMAT)


def now_iso() -> str:
    return iso(datetime.now(timezone.utc))


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=timezone.utc)


def slot_key(project: str, flow: str, scheduled_time: str) -> str:
    """The idempotency key of a scheduled slot: one run per flow and time, whatever the version.

    Unit separators, not NULs: PostgreSQL text cannot hold a NUL.
    """
    return f"{project}\x1f{flow}\x1f{scheduled_time}"


def row_to_run(row: Sequence[Any]) -> FlowRun:
    values = dict(zip(RUN_COLUMN_NAMES, row))
    for name in RUN_JSON_FIELDS:
        values[name] = json.loads(values[name])
    return FlowRun(**values)


def run_to_row(run: FlowRun) -> List[Any]:
    return [json.dumps(getattr(run, c)) if c in RUN_JSON_FIELDS else getattr(run, c) for c in RUN_COLUMN_NAMES]


def stored_value(column: str, value: Any) -> Any:
    return json.dumps(value) if column in RUN_JSON_FIELDS else value
