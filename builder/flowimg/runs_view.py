"""How flow-run records read on a terminal and as JSON (`flowimg runs list/show`); pure text."""
from __future__ import annotations

import json
from dataclasses import asdict

from .backend.runs import STATES, FlowRun
from .errors import FlowimgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence


def state_name(text: str) -> str:
    """A state as typed (any case) in its stored spelling."""
    for state in STATES:
        if state.lower() == text.strip().lower():
            return state
    raise FlowimgError(f"unknown run state '{text}'; use one of {', '.join(STATES)}")


def _when(stamp: Optional[str]) -> str:
    """Seconds are enough on a terminal; --json keeps the stored microseconds."""
    return f"{stamp[:10]} {stamp[11:19]}" if stamp else "-"


def run_line(run: FlowRun) -> str:
    exit_code = "-" if run.exit_code is None else str(run.exit_code)
    return (f"{run.id[:8]}  {run.project}/{run.flow}  v{run.version}  {run.state:<9}  "
            f"scheduled {_when(run.scheduled_time)}  started {_when(run.start_time)}  ended {_when(run.end_time)}  "
            f"{run.target or '-'}  exit {exit_code}")


def runs_text(runs: Sequence[FlowRun]) -> str:
    return "".join(run_line(run) + "\n" for run in runs) or "No flow runs.\n"


def run_details(run: FlowRun) -> str:
    fields = [
        ("Run", run.id), ("Flow", f"{run.project}/{run.flow}"), ("Version", f"{run.version} ({run.version_id})"),
        ("State", run.state), ("Attempt", str(run.attempt)),
        ("Parameters", json.dumps(run.parameters, sort_keys=True)),
        ("Scheduled", run.scheduled_time or "-"), ("Started", run.start_time or "-"), ("Ended", run.end_time or "-"),
        ("Target", run.target or "-"), ("Image", run.image or "-"), ("Node", run.node or "-"),
        ("Agent", run.agent or "-"), ("Heartbeat", run.heartbeat or "-"),
        ("Exit code", "-" if run.exit_code is None else str(run.exit_code)),
        ("Labels", ", ".join(run.labels) or "-"), ("Created", run.created_at),
    ]
    lines: List[str] = [f"{name + ':':<12}{value}" for name, value in fields]
    lines.append(f"Log tail ({len(run.log_tail)} lines):" if run.log_tail else "Log tail: none")
    lines += [f"  {line}" for line in run.log_tail]
    return "\n".join(lines) + "\n"


def runs_json(runs: Sequence[FlowRun]) -> str:
    return json.dumps([asdict(run) for run in runs], indent=2, sort_keys=True) + "\n"


def run_json(run: FlowRun) -> str:
    return json.dumps(asdict(run), indent=2, sort_keys=True) + "\n"
