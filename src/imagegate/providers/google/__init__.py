"""What the Google adapters (``providers/gemini``, ``providers/imagen``) share: not an adapter itself.

- ``endpoints``: Gemini API vs Vertex AI base URLs, paths and credentials, from route options;
- ``auth``: OAuth access tokens from a service-account key (signed JWT exchanged at the token URI);
- ``errors``: Google's ``{"error": {code, message, status, details}}`` bodies -> the domain errors;
- ``pictures``: the pixel size of a base64 image, read from its first bytes.
"""
