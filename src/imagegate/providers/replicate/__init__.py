"""Replicate's predictions API: create with ``Prefer: wait`` and a ``Cancel-After`` deadline, poll ``urls.get``."""

from imagegate.providers.replicate.adapter import ReplicateAdapter

__all__ = ["ReplicateAdapter"]
