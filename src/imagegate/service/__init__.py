"""The request pipeline shared by every dialect and the CLI."""
