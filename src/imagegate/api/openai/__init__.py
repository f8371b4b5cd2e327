"""openai transport."""
