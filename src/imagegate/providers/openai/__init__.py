"""OpenAI Images API (``/images/generations``, ``/images/edits``): the GPT Image family."""

from imagegate.providers.openai.adapter import OpenAIImagesAdapter

__all__ = ["OpenAIImagesAdapter"]
