"""Shared pytest fixtures: named users per role (the healthchecks pattern)."""
