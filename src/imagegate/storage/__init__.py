"""Implementations of the image storage port (``domain/image_store.py``).

``local`` keeps files under the data directory, served by the gateway at signed links;
``s3`` keeps objects in S3-compatible storage with presigned links; ``build`` picks one from
settings. Imported only by ``app.py`` and the CLI.
"""
