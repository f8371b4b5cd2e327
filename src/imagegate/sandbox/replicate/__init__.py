"""The sandbox as Replicate's predictions API (providers.md §6)."""

from imagegate.sandbox.replicate.routes import replicate_routes

__all__ = ["replicate_routes"]
