"""SlackTask: post a message to a Slack incoming webhook as a step of the flow."""
from __future__ import annotations


from ...client.secrets import Secret
from ...core.task import Task
from ...utilities.notifications import post_json
from ...utilities.tasks import defaults_from_attrs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Union


class SlackTask(Task):
    """The webhook URL comes from `webhook_url` or else the secret `webhook_secret`
    (SLACK_WEBHOOK_URL); a dict message is sent as the payload, a string as {"text": ...}."""

    def __init__(self, message: Optional[Union[str, dict]] = None,
                 webhook_secret: str = "SLACK_WEBHOOK_URL", **kwargs: Any) -> None:
        self.message = message
        self.webhook_secret = webhook_secret
        super().__init__(**kwargs)

    @defaults_from_attrs("message", "webhook_secret")
    def run(self, message: Optional[Union[str, dict]] = None, webhook_secret: Optional[str] = None,
            webhook_url: Optional[str] = None) -> None:
        url = webhook_url or Secret(webhook_secret or "SLACK_WEBHOOK_URL").get()
        post_json(url, message if isinstance(message, dict) else {"text": message})
