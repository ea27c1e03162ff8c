"""What is baked into an image: read by the in-image runtime and, from the label, by `inspect`."""
from __future__ import annotations

import json
from typing import Any, Dict, List

from .errors import FlowimgError

SCHEMA_VERSION = 1
MANIFEST_PATH = "/opt/flowimg/manifest.json"
MANIFEST_LABEL = "io.flowimg.manifest"


def flow_entry(*, name: str, path: str, stored_as_script: bool, storage: Dict[str, Any],
               structure: Dict[str, Any], structure_hash: str, script_sha256: str) -> Dict[str, Any]:
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
    return manifest


def flow_from_manifest(manifest: Dict[str, Any], name: str, source: str) -> Dict[str, Any]:
    flows = manifest["flows"]
    if name not in flows:
        raise FlowimgError(f"no flow named '{name}' in {source}; it holds: {', '.join(sorted(flows)) or 'none'}")
    return flows[name]
