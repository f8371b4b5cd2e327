"""admin transport."""
