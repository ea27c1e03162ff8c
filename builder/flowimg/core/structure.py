"""The structure a registration records: task slugs, kinds, order and edges, never task bodies.

Flows the first flowimg engine could express keep the exact dict it produced (so flows registered
then still compare equal): helper tasks flowimg adds for literal lists/dicts are see-through, and an
edge passed positionally keeps its position ("0", "1") as its key. What is new (mapped or flattened
edges, order-only edges, a schedule) only appears when a flow uses it.
"""
from __future__ import annotations

import json

from ..digests import sha256_hex

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, List


def is_see_through(task: Any) -> bool:
    return getattr(task, "_flowimg_auto", False)


def _edge_key(edge: Any) -> Any:
    return str(edge.position) if edge.position is not None else edge.key


def _expand(flow: Any, edge: Any, key: Any, flags: List[str]) -> Iterator[List[Any]]:
    up = edge.upstream_task
    if not is_see_through(up):
        yield [flow.slugs[up], None, key] + flags
        return
    for inner in flow._edges_to.get(up, ()):
        yield from _expand(flow, inner, key, flags + _flags(inner))


def _flags(edge: Any) -> List[str]:
    return (["mapped"] if edge.mapped else []) + (["flattened"] if edge.flattened else [])


def flow_structure(flow: Any) -> Dict[str, Any]:
    from .task import Parameter

    tasks = [t for t in flow.ordered_tasks() if not is_see_through(t)]
    edges: List[List[Any]] = []
    for edge in flow.ordered_edges():
        down = edge.downstream_task
        if is_see_through(down):
            continue
        for entry in _expand(flow, edge, _edge_key(edge), _flags(edge)):
            entry[1] = flow.slugs[down]
            edges.append(entry)
    structure: Dict[str, Any] = {
        "tasks": [
            {"slug": flow.slugs[t], "name": t.name, "kind": "parameter" if isinstance(t, Parameter) else "task"}
            for t in tasks
        ],
        "edges": edges,
    }
    if flow.schedule is not None:
        from .flow import schedule_dict

        structure["schedule"] = schedule_dict(flow.schedule)
    return structure


def structure_hash(structure: Dict[str, Any]) -> str:
    text = json.dumps(structure, sort_keys=True, separators=(",", ":"), default=str)
    return sha256_hex(text.encode())


def _edge_words(edge: tuple) -> str:
    flags = f" ({', '.join(edge[3:])})" if len(edge) > 3 else ""
    return f"{edge[0]} -> {edge[1]}{flags}"


def describe_structure_change(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """Human words for what differs between two structures, for the 'please re-register' error."""
    old_slugs = [t["slug"] for t in old["tasks"]]
    new_slugs = [t["slug"] for t in new["tasks"]]
    added = [s for s in new_slugs if s not in old_slugs]
    removed = [s for s in old_slugs if s not in new_slugs]
    changes: List[str] = []
    if len(added) == 1 and len(removed) == 1 and len(old_slugs) == len(new_slugs):
        changes.append(f"task renamed: '{removed[0]}' -> '{added[0]}'")
    else:
        changes += [f"task added: '{s}'" for s in added]
        changes += [f"task removed: '{s}'" for s in removed]
    if not changes and old_slugs != new_slugs:
        changes.append("tasks reordered: " + ", ".join(new_slugs))
    old_edges = {tuple(e) for e in old["edges"]}
    new_edges = {tuple(e) for e in new["edges"]}
    changes += [f"edge added: {_edge_words(e)}" for e in sorted(new_edges - old_edges, key=str)]
    changes += [f"edge removed: {_edge_words(e)}" for e in sorted(old_edges - new_edges, key=str)]
    if old.get("schedule") != new.get("schedule"):
        changes.append("schedule changed")
    if not changes and old != new:
        changes.append("task kinds changed")
    return changes
