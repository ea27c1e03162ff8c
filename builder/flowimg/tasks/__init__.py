"""The task library parts flows use most (Prefect's `prefect.tasks` paths)."""
