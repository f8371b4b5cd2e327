"""``imagegate compare``: run one workload of prompts across models through a gateway, review, and report.

The runner is a client of the public API (billed, limited and recorded like any traffic); every
request carries the run's tag, so the ledger holds the truth and the report reads it back.
"""
