"""Keys, the ledger and (later) budgets and quotas, behind ports that ``store/`` implements."""
