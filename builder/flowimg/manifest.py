"""What is baked into an image: read by the in-image runtime and, from the label, by `inspect`."""
from __future__ import annotations

import json

from .errors import FlowimgError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

SCHEMA_VERSION = 1
MANIFEST_PATH = "/opt/flowimg/manifest.json"
MANIFEST_LABEL = "io.flowimg.manifest"


def flow_entry(*, name: str, path: str, stored_as_script: bool, storage: Dict[str, Any],
               structure: Dict[str, Any], structure_hash: str, script_sha256: Optional[str]) -> Dict[str, Any]:
    return {
        "name": name,
        "path": path,
        "stored_as_script": stored_as_script,
        "storage_kind": storage["kind"],
        "storage": storage,
        "structure": structure,
        "structure_hash": structure_hash,
        "script_sha256": script_sha256,
    }


def build_manifest(flows: List[Dict[str, Any]], flowimg_version: str, python_version: str) -> Dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "flowimg_version": flowimg_version,
        "python_version": python_version,
        "flows": {entry["name"]: entry for entry in sorted(flows, key=lambda e: e["name"])},
    }


def dumps(manifest: Dict[str, Any]) -> str:
    """Canonical text, so the same flows always give the same bytes (and the same layer)."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"))


def loads(text: str, source: str) -> Dict[str, Any]:
    try:
        manifest = json.loads(text)
    except ValueError:
        raise FlowimgError(f"the flowimg manifest in {source} is not valid JSON; rebuild the image") from None
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if version != SCHEMA_VERSION:
        raise FlowimgError(
            f"the flowimg manifest in {source} has schema version {version}, this flowimg reads "
            f"{SCHEMA_VERSION}; rebuild the image with this flowimg"
        )
    problem = _manifest_problem(manifest)
    if problem:
        raise FlowimgError(f"the flowimg manifest in {source} is damaged ({problem}); rebuild the image")
    checked: Dict[str, Any] = manifest
    return checked


def _typed(value: Any, where: str, kind: type, what: str) -> Optional[str]:
    return None if isinstance(value, kind) else f"{where} is {type(value).__name__}, not {what}"


def structure_problem(structure: Any, where: str = "structure") -> Optional[str]:
    """What makes a value unusable as a flow structure ({"tasks": [{"slug": ...}], "edges": [[...]]}), if anything."""
    if not isinstance(structure, dict):
        return _typed(structure, where, dict, "an object")
    tasks, edges = structure.get("tasks"), structure.get("edges")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and isinstance(t.get("slug"), str) for t in tasks):
        return f"{where}.tasks is not a list of tasks with a slug"
    if not isinstance(edges, list) or not all(isinstance(e, list) and all(isinstance(p, str) for p in e) for e in edges):
        return f"{where}.edges is not a list of [from, to, key] lists"
    return None


def storage_problem(storage: Any, where: str = "storage") -> Optional[str]:
    """What makes a value unusable as `Storage.to_dict()` output, if anything."""
    if not isinstance(storage, dict):
        return _typed(storage, where, dict, "an object")
    checks = (("kind", str, "a string"), ("settings", dict, "an object"), ("flows", dict, "an object"))
    for key, kind, what in checks:
        if key not in storage:
            return f"{where} has no '{key}'"
        problem = _typed(storage[key], f"{where}.{key}", kind, what)
        if problem:
            return problem
    return None


def _manifest_problem(manifest: Dict[str, Any]) -> Optional[str]:
    flows = manifest.get("flows")
    if not isinstance(flows, dict):
        return "'flows' is missing or not an object"
    for name, entry in flows.items():
        where = f"flows[{name!r}]"
        if not isinstance(entry, dict):
            return _typed(entry, where, dict, "an object")
        for key, kind, what in (("path", str, "a string"), ("stored_as_script", bool, "true or false")):
            if key not in entry:
                return f"{where} has no '{key}'"
            problem = _typed(entry[key], f"{where}.{key}", kind, what)
            if problem:
                return problem
        problem = storage_problem(entry.get("storage"), f"{where}.storage") or structure_problem(
            entry.get("structure"), f"{where}.structure")
        if problem:
            return problem
    return None


def flow_from_manifest(manifest: Dict[str, Any], name: str, source: str) -> Dict[str, Any]:
    flows = manifest["flows"]
    if name not in flows:
        raise FlowimgError(f"no flow named '{name}' in {source}; it holds: {', '.join(sorted(flows)) or 'none'}")
    found: Dict[str, Any] = flows[name]
    return found
