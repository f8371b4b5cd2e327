"""imagegate: a self-hostable gateway for image-generation APIs."""

__version__ = "0.1.0"
