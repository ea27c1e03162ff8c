"""Helpers with Prefect's import paths (edges, tasks, logging)."""
