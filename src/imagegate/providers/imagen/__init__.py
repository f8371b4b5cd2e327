"""Imagen ``:predict`` (Imagen 4, shut down 2026-08-17): for operators who still have access, on
the Gemini API or Vertex AI; the catalog's lifecycle rows decide what happens after shutdown."""

from imagegate.providers.imagen.adapter import ImagenAdapter

__all__ = ["ImagenAdapter"]
