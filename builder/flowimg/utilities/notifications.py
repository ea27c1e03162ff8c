"""State handlers that notify: `slack_notifier` posts a Slack message on chosen state changes;
`callback_factory` turns any `fn(obj, state)` into a handler that runs only for chosen states."""
from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional


def slack_message(tracked_obj: Any, state: Any) -> Dict[str, Any]:
    """Slack's attachment format, as Prefect sent it (without the Prefect Cloud link)."""
    value = f"```{state.result!r}```" if isinstance(state.result, Exception) else state.message
    fields = [] if value is None else [{"title": "Message", "value": value, "short": False}]
    name = type(state).__name__
    return {"attachments": [{
        "fallback": "State change notification", "color": state.color, "author_name": "flowimg",
        "title": name, "fields": fields, "text": f"{tracked_obj.name} is now in a {name} state",
        "footer": "flowimg notification",
    }]}


def slack_notifier(tracked_obj: Any = None, old_state: Any = None, new_state: Any = None,
                   ignore_states: Optional[List[type]] = None, only_states: Optional[List[type]] = None,
                   webhook_secret: Optional[str] = None, backend_info: bool = True,
                   proxies: Optional[dict] = None) -> Any:
    """Use as `state_handlers=[slack_notifier]` or `slack_notifier(only_states=[Failed])`.

    The webhook URL is the secret SLACK_WEBHOOK_URL (or `webhook_secret`), read on every change as
    Prefect did, so a missing secret fails the task or flow it watches.
    """
    if new_state is None:
        def handler(obj: Any, old: Any, new: Any) -> Any:
            return slack_notifier(obj, old, new, ignore_states=ignore_states, only_states=only_states,
                                  webhook_secret=webhook_secret, backend_info=backend_info, proxies=proxies)

        return handler
    from ..client.secrets import Secret

    webhook_url = Secret(webhook_secret or "SLACK_WEBHOOK_URL").get()
    if any(isinstance(new_state, kind) for kind in ignore_states or []):
        return new_state
    if only_states and not any(isinstance(new_state, kind) for kind in only_states):
        return new_state
    if post_json(webhook_url, slack_message(tracked_obj, new_state), proxies) >= 300:
        raise ValueError(f"Slack notification for {tracked_obj} failed")
    return new_state


def post_json(url: str, payload: Any, proxies: Optional[dict] = None) -> int:
    """POST `payload` as JSON and return the HTTP status; an error status (4xx/5xx) raises HTTPError."""
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler(proxies)) if proxies else None
    with (opener.open(request) if opener else urllib.request.urlopen(request)) as response:
        return int(response.status)


def callback_factory(fn: Callable[[Any, Any], Any], check: Callable[[Any], bool]) -> Callable[[Any, Any, Any], Any]:
    """A state handler calling `fn(obj, new_state)` when `check(new_state)` holds; the state is kept."""
    def state_handler(obj: Any, old_state: Any, new_state: Any) -> Any:
        if check(new_state):
            fn(obj, new_state)
        return new_state

    return state_handler
