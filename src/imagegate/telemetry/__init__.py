"""Observability: Prometheus metrics, OpenTelemetry traces and JSON logs, fed by the pipeline's events.

Subscribes to attempt events (``service.attempts.AttemptObserver``) and to request facts
(``service.request_facts``); nothing here re-derives what the ledger row already says.
"""
