"""fal.ai's queue API: submit to ``queue.fal.run``, poll ``status_url``, read ``response_url``, download."""

from imagegate.providers.fal.adapter import FalAdapter

__all__ = ["FalAdapter"]
