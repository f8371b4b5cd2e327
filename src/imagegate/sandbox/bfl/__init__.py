"""The sandbox as Black Forest Labs' FLUX API (providers.md §5)."""

from imagegate.sandbox.bfl.routes import bfl_routes

__all__ = ["bfl_routes"]
