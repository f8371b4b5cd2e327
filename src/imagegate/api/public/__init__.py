"""public transport."""
