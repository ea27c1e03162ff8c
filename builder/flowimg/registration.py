"""`flowimg register`: collect flows, build each storage once, record new versions in the backend."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence, cast

from .backend.base import Backend, FlowVersion, metadata_hash
from .collect import FoundFlow
from .errors import FlowimgError
from .storage.base import Storage
from .storage.local import Local
from .log import Log



@dataclass
class Outcome:
    source: str
    flow: str
    status: str                 # registered | skipped | error
    id: Optional[str] = None
    version: Optional[int] = None
    storage: Optional[str] = None
    reason: Optional[str] = None


def _json_default(value: Any) -> Any:
    return repr(value)


def _parameters(flow: Any) -> Dict[str, Any]:
    """Parameter defaults as JSON values (non-JSON defaults by their repr), so they can be compared."""
    return cast(Dict[str, Any], json.loads(json.dumps(flow.parameter_defaults(), default=_json_default, sort_keys=True)))


def attach_storages(found: List[FoundFlow]) -> Dict[str, str]:
    """Give storage-less flows Local script storage; add each flow to its storage. Errors by flow."""
    errors: Dict[str, str] = {}
    locals_by_script: Dict[Optional[str], Local] = {}
    for item in found:
        if item.flow.storage is None:
            if item.script_path is None:
                errors[item.flow.name] = "a flow from a module needs flow.storage set (no script to point Local at)"
                continue
            item.flow.storage = locals_by_script.setdefault(item.script_path, Local(stored_as_script=True))
        try:
            item.flow.storage.add_flow(item.flow, item.script_path)
        except FlowimgError as exc:
            errors[item.flow.name] = str(exc)
    return errors


def summary_line(outcomes: List[Outcome], width: int = 62) -> str:
    counts = [(status, sum(1 for o in outcomes if o.status == status)) for status in ("registered", "skipped", "error")]
    words = {"error": "errored"}
    text = ", ".join(f"{n} {words.get(s, s)}" for s, n in counts if n) or "0 registered"
    return f" {text} ".center(width, "=")


def register(backend: Backend, project: str, found: List[FoundFlow], load_errors: Dict[str, str], *,
             labels: Sequence[str] = (), force: bool = False, pin: bool = False, push: bool = True,
             log: Log = print) -> List[Outcome]:
    """Register in source order, printing the seed's output shape; returns one outcome per flow."""
    outcomes: List[Outcome] = []
    log("Collecting flows...")
    flow_errors = attach_storages(found)
    # No project is created up front: the first registration that succeeds creates it in its own
    # transaction, so a run in which every flow fails leaves the registry as it was.
    built: Dict[int, Optional[str]] = {}
    sources = list(dict.fromkeys([f.source for f in found] + list(load_errors)))
    for source in sources:
        log(f"Processing '{source}':")
        if source in load_errors:
            log("  Error")
            log(f"    {load_errors[source]}")
            outcomes.append(Outcome(source=source, flow="", status="error", reason=load_errors[source]))
            continue
        for item in (f for f in found if f.source == source):
            outcomes.append(_register_one(backend, project, item, flow_errors, built, labels, force, pin, push, log))
    log(summary_line(outcomes))
    return outcomes


def _build_once(storage: Storage, built: Dict[int, Optional[str]], pin: bool, push: bool, log: Log) -> Optional[str]:
    """Build a storage the first time one of its flows is registered; the error, if any, sticks to it."""
    if id(storage) not in built:
        log(f"  Building `{storage.kind}` storage...")
        try:
            if pin:
                storage.pin(log=lambda m: log(f"    {m}"))
            storage.build(push=push, log=lambda m: None)
            built[id(storage)] = None
        except FlowimgError as exc:
            built[id(storage)] = str(exc)
    return built[id(storage)]


def _register_one(backend: Backend, project: str, item: FoundFlow, flow_errors: Dict[str, str],
                  built: Dict[int, Optional[str]], labels: Sequence[str], force: bool, pin: bool, push: bool,
                  log: Log) -> Outcome:
    flow = item.flow
    error = flow_errors.get(flow.name) or _build_once(flow.storage, built, pin, push, log)
    if error is None:
        try:
            storage = flow.storage.to_dict()
            parameters = _parameters(flow)
            version = None if force else _unchanged_since_upgrade(backend, project, flow, storage, labels, parameters)
            created, scheduled = False, None
            if version is None:
                version, created = backend.register(
                    project, flow.name, structure=flow.structure(), structure_hash=flow.structure_hash(),
                    storage=storage, labels=sorted(set(labels)), parameters=parameters,
                    metadata_hash=metadata_hash(flow.structure_hash(), storage, list(labels), parameters),
                    force=force, source=item.source,
                )
                if created:
                    scheduled = _schedule(backend, version)
        except FlowimgError as exc:
            error = str(exc)
    if error is not None:
        log(f"  Registering '{flow.name}'... Error")
        log(f"    {error}")
        return Outcome(source=item.source, flow=flow.name, status="error", storage=flow.storage.kind if flow.storage else None, reason=error)
    assert version is not None  # set whenever no error was recorded
    if not created:
        log(f"  Registering '{flow.name}'... Skipped (metadata unchanged)")
    else:
        log(f"  Registering '{flow.name}'... Done")
        log(f"  └── ID: {version.id}")
        log(f"  └── Version: {version.version}")
        if scheduled:
            log(f"  └── {scheduled}")
    return Outcome(source=item.source, flow=flow.name, status="registered" if created else "skipped",
                   id=version.id, version=version.version, storage=flow.storage.kind)


def _schedule(backend: Backend, version: FlowVersion) -> Optional[str]:
    """A new version takes over the flow's future runs: its schedule's next ones, or none without one."""
    from .scheduling import schedule_of, schedule_upcoming

    count = schedule_upcoming(backend, version)
    if schedule_of(version) is None:
        return None
    if not backend.schedule_active(version.project, version.name):
        return (f"Schedule paused: no runs scheduled; resume with "
                f"`flowimg schedule resume {version.name} --project {version.project}`")
    return f"Scheduled {count} run{'s' if count != 1 else ''}"


def _unchanged_since_upgrade(backend: Backend, project: str, flow: Any, storage: Dict[str, Any],
                             labels: Sequence[str], parameters: Dict[str, Any]) -> Optional[FlowVersion]:
    """The latest version, when it was registered by an older flowimg with what is now the same metadata."""
    earlier = [metadata_hash(flow.structure_hash(), dict(storage, settings=settings), list(labels), parameters)
               for settings in flow.storage.earlier_settings()]
    if not earlier:
        return None
    try:
        latest = backend.get(project, flow.name)
    except FlowimgError:
        return None
    return latest if latest.metadata_hash in earlier else None


def outcomes_json(outcomes: List[Outcome]) -> str:
    return json.dumps([asdict(o) for o in outcomes], indent=2)
