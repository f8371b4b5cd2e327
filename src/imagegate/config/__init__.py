"""Operator configuration: environment settings and the YAML gateway file."""
