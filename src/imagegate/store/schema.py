"""The whole schema: ``metadata`` with every table registered; ``migrations/versions`` must build exactly this.

A test compares it with the migrated database on both backends, so a column added to a table
module without a migration (or the reverse) fails the suite. The tables live by concern, each
module registering its own on the one ``metadata`` of ``store.schema_base``; importing them all
here is what makes it complete (Alembic's environment and that test read it from here).
"""

from __future__ import annotations

# Imported for their tables, which they register on ``metadata``.
from imagegate.store import (  # noqa: F401
    bulk_tables,
    governance_tables,
    job_tables,
    ledger_tables,
    routing_tables,
)
from imagegate.store.schema_base import metadata

__all__ = ["metadata"]
