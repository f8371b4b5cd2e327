"""Together AI's OpenAI-like image API (synchronous): ``POST {base}/v1/images/generations``."""

from imagegate.providers.together.adapter import TogetherAdapter

__all__ = ["TogetherAdapter"]
