"""Notification tasks (Prefect's `prefect.tasks.notifications` path)."""
from .slack_task import SlackTask

__all__ = ["SlackTask"]
