"""Deployment descriptions (Compose files) rendered from a registered flow version."""
