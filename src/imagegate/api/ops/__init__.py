"""The gateway's operational endpoints: ``/metrics``, ``/readyz`` and the API description (``/openapi.json``, ``/docs``)."""
