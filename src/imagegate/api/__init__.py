"""Transports: parse a dialect into the pipeline's terms, render results back. Nothing else."""
