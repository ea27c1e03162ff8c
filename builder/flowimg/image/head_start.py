"""A registry build's first round trips, started as soon as `flowimg build` (or `plan`) starts.

Before it can upload, a build asks what is under the tag, resolves the base tag and opens upload sessions;
those waited for the flow script to load, and their answers then held up the upload. The target and base
of the last push of the same command line (in the same folder) are remembered, and the next run starts
those round trips at once, while the script loads. A build uses them only when its own target, tag,
insecure hosts and base are the same and it sends no credentials of its own; otherwise, and when a push
needs no sessions (an unchanged image), the sessions are cancelled, as a build cancels its own.
"""
from __future__ import annotations

import json

from ..home import cache_path, keep_json, read_cached

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

    from .registry_builder import Session

CANCEL_WAIT = 2.0  # seconds
_key: Optional[str] = None
_started: Optional[Tuple[Dict[str, Any], Callable[[], Any], List[Session]]] = None
_unused: List[Session] = []


def _record_path(key: str) -> str:
    return cache_path("builds", key + ".json")


def target_of(host: str, insecure: Sequence[str], repository: str, tag: str, base_image: str) -> Dict[str, Any]:
    return {"host": host, "insecure": sorted(insecure), "repository": repository, "tag": tag, "base_image": base_image}


def start(key: str, sessions: bool = True) -> None:
    """Ask the registry the last push (or plan) of this command line went to, if there was one; `sessions`
    opens upload sessions too (a plan uploads nothing)."""
    global _key, _started
    _key = key
    found = read_cached(_record_path(key))
    if found is None:
        return
    from ..errors import FlowimgError
    from .registry_builder import in_background, open_sessions, registry_for, resolve_early, split_image

    try:
        last = json.loads(found)
        repository, tag = last["repository"], last["tag"]
        target = registry_for(last["host"], last["insecure"])
        base_host, base_repository, base_reference = split_image(last["base_image"])
        if base_host is not None:
            base = target if base_host == last["host"] else registry_for(base_host, last["insecure"])
            resolve_early(base, base_repository, base_reference)
    except (FlowimgError, ValueError, KeyError, TypeError, AttributeError):
        return  # a damaged record: the build asks for itself
    client = target.fork()
    _started = (last, in_background(lambda: client.find_manifest(repository, tag)),
                open_sessions(target, repository) if sessions else [])


def take(target: Dict[str, Any], credentials: Any) -> Optional[Tuple[Callable[[], Any], List[Session]]]:
    """(what is under the tag, upload sessions) asked at start, when they were asked of this target."""
    global _started
    started, _started = _started, None
    if started is None:
        return None
    last, under_tag, sessions = started
    if credentials is None and last == target:
        return under_tag, sessions
    _unused.extend(sessions)
    return None


def remember(target: Dict[str, Any], credentials: Any) -> None:
    """The target of a push, for the next run of this command line (not one that sent its own credentials)."""
    if _key is not None and credentials is None:
        keep_json(_record_path(_key), target)


def discard() -> None:
    """Cancel the sessions no push used, waiting CANCEL_WAIT at most: a remembered registry that no longer
    answers must not hold up the end of a build that went elsewhere (it forgets the uploads on its own)."""
    global _started
    if _started is not None:
        _unused.extend(_started[2])
        _started = None
    if _unused:
        import threading

        from .registry_builder import close_sessions

        cancelling = threading.Thread(target=close_sessions, args=(list(_unused),), daemon=True)
        cancelling.start()
        cancelling.join(CANCEL_WAIT)
        del _unused[:]
