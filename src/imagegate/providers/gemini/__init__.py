"""Gemini API native image generation (``generateContent``): the Gemini image models, on the
Gemini API (``x-goog-api-key``) or on Vertex AI (OAuth), with SSE streaming."""

from imagegate.providers.gemini.adapter import GeminiImageAdapter

__all__ = ["GeminiImageAdapter"]
