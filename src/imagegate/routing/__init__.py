"""Which provider deployments can serve a request, in which order."""
