"""The web dashboard: runs, models, deployments, drift and the catalog, read-only (`cursus mlops dashboard`)."""

from cursus.dashboard.app import create_app, serve

__all__ = ["create_app", "serve"]
