"""The in-image entrypoint: run a flow named in the manifest, or check that every flow loads.

Standard library only (plus whatever the flow's storage needs to fetch), Python 3.8+, and nothing
imported that a run does not use, so a container starts fast on any Python base image.

    IMAGE [FLOW] [--param k=v ...] [--params-json J] [--expect-structure-json J] [--storage-json J]
    IMAGE --check      load every flow in the manifest and compare its structure
    IMAGE --list       print the flows the image holds
"""
from __future__ import annotations

import json
import os
import sys

from .errors import FlowimgError
from .core.structure import describe_structure_change, structure_hash
from .manifest import MANIFEST_PATH, flow_from_manifest, loads, storage_problem, structure_problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional


def _log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def read_manifest(path: str = MANIFEST_PATH) -> Optional[Dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            return loads(fh.read(), path)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowimgError(f"cannot read the flowimg manifest {path} ({exc}); rebuild the image") from None


def json_option(value: Optional[str], flag: str, problem: Callable[[Any, str], Optional[str]]) -> Any:
    """A JSON argument, decoded and shape-checked, or None when it was not given."""
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except ValueError as exc:
        raise FlowimgError(f"{flag} is not valid JSON ({exc}); pass one JSON object") from None
    error = problem(decoded, flag)
    if error:
        raise FlowimgError(f"{flag} is not usable: {error}")
    return decoded


def _object(value: Any, where: str) -> Optional[str]:
    return None if isinstance(value, dict) else f"{where} is {type(value).__name__}, not a JSON object"


def parse_params(pairs: List[str]) -> Dict[str, Any]:
    """k=v pairs; a value that is JSON (numbers, lists, true) is decoded, anything else stays a string."""
    params: Dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FlowimgError(f"bad parameter '{pair}': write it as name=value")
        try:
            params[key] = json.loads(value)
        except ValueError:
            params[key] = value
    return params


def check_structure(flow: Any, expected: Dict[str, Any], register_hint: str) -> None:
    if flow.structure_hash() == structure_hash(expected):
        return
    changes = describe_structure_change(expected, flow.structure())
    raise FlowimgError(
        f"flow '{flow.name}' changed structure since it was registered ({'; '.join(changes)}); "
        f"re-register it: {register_hint}"
    )


def run_and_report(flow: Any, params: Dict[str, Any], log: Any) -> int:
    """Run once (never on the schedule) and turn the flow's final state into an exit code."""
    from .core.running import failure_summary
    from .utilities.logging import send_logs_to

    send_logs_to(sys.stderr)
    state = flow.run(parameters=params, run_on_schedule=False)
    if state.is_failed():
        log(f"Error: {failure_summary(flow, state)}")
        return 1
    log(f"Flow '{flow.name}': Success")
    return 0


def load(name: str, storage_data: Optional[Dict[str, Any]], manifest: Optional[Dict[str, Any]]) -> Any:
    from .storage import from_dict

    if storage_data is None:
        if manifest is None:
            raise FlowimgError(f"this image has no flowimg manifest at {MANIFEST_PATH}; build it with flowimg build")
        entry = flow_from_manifest(manifest, name, "this image")
        storage_data = entry["storage"]
        if not entry["stored_as_script"] and entry.get("script_sha256"):
            check_pickle(entry["path"], entry["script_sha256"])
    return from_dict(storage_data).get_flow(name, log=_log)


def check_pickle(path: str, recorded: str) -> None:
    """The pickle must be the one the manifest describes, not one another flow or a later edit left."""
    import hashlib  # read in chunks of any size: OpenSSL's speed

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise FlowimgError(f"cannot read the pickled flow {path} ({exc.strerror}); rebuild the image") from None
    if digest.hexdigest() != recorded:
        raise FlowimgError(
            f"the pickled flow {path} has sha256 {digest.hexdigest()[:12]}..., the manifest records "
            f"{str(recorded)[:12]}...; rebuild the image"
        )


def check_all(manifest: Optional[Dict[str, Any]]) -> int:
    if manifest is None:
        raise FlowimgError(f"this image has no flowimg manifest at {MANIFEST_PATH}; build it with flowimg build")
    failures = 0
    for name, entry in sorted(manifest["flows"].items()):
        try:
            flow = load(name, None, manifest)
            check_structure(flow, entry["structure"], "rebuild the image")
            print(f"ok: flow '{name}' loads from {entry['path']}")
        except FlowimgError as exc:
            failures += 1
            print(f"failed: flow '{name}' from {entry['path']}: {exc}")
    print("checked with Python %d.%d.%d" % sys.version_info[:3])  # the builder records which Python vouched
    return 1 if failures else 0


def _take(args: List[str], flag: str) -> Optional[str]:
    if flag in args:
        at = args.index(flag)
        if at + 1 >= len(args):
            raise FlowimgError(f"{flag} needs a value")
        value = args[at + 1]
        del args[at:at + 2]
        return value
    return None


def main(argv: Optional[List[str]] = None) -> int:
    from .secrets import SECRETS_DIR_ENV, load_secret_files

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        load_secret_files(os.environ.get(SECRETS_DIR_ENV))
        manifest = read_manifest(os.environ.get("FLOWIMG_MANIFEST", MANIFEST_PATH))
        if args[:1] == ["--check"]:
            return check_all(manifest)
        if args[:1] == ["--list"]:
            for name in sorted((manifest or {}).get("flows", {})):
                print(name)
            return 0
        storage_json = _take(args, "--storage-json")
        expected_json = _take(args, "--expect-structure-json")
        hint = _take(args, "--register-hint") or "flowimg register -p <flow script>"
        params = json_option(_take(args, "--params-json"), "--params-json", _object) or {}
        pairs: List[str] = []
        while "--param" in args:
            pairs.append(_take(args, "--param") or "")
        params.update(parse_params(pairs))
        if len(args) > 1 or any(a.startswith("-") for a in args):
            raise FlowimgError(f"unexpected arguments {' '.join(args)}; usage: IMAGE [FLOW] [--param k=v]")
        known = sorted((manifest or {}).get("flows", {}))
        if args:
            name = args[0]
        elif len(known) == 1:
            name = known[0]
        else:
            raise FlowimgError(f"name the flow to run; this image holds: {', '.join(known) or 'none'}")
        storage_data = json_option(storage_json, "--storage-json", storage_problem)
        expected = json_option(expected_json, "--expect-structure-json", structure_problem)
        flow = load(name, storage_data, manifest)
        if expected is not None:
            check_structure(flow, expected, hint)
        elif manifest is not None and storage_data is None:
            check_structure(flow, flow_from_manifest(manifest, name, "this image")["structure"], "rebuild the image")
        _log(f"Running flow '{name}'")
        return run_and_report(flow, params, _log)
    except FlowimgError as exc:
        _log(f"Error: {exc}")
        return 1


def exit_on_sigterm() -> None:
    """As a container's PID 1, Python ignores SIGTERM unless it handles it, so `docker stop` (a
    cancelled run) would wait out its whole timeout: end at once, output flushed, exit 128 + 15."""
    import signal

    def stop(signum: int, _frame: Any) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":
    exit_on_sigterm()
    sys.exit(main())
