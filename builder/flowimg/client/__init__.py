"""Prefect's `prefect.client` path; only local secrets exist here (there is no Prefect server)."""
