"""google transport."""
