"""The sandbox as fal.ai's queue API (providers.md §8)."""

from imagegate.sandbox.fal.routes import fal_routes

__all__ = ["fal_routes"]
