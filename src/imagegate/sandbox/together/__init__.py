"""The sandbox as Together AI's image API (providers.md §7), served under ``/together``."""

from imagegate.sandbox.together.routes import together_routes

__all__ = ["together_routes"]
