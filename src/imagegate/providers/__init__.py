"""Provider adapters: one folder per provider, each declaring its mapping and capabilities as data.

Core code reaches adapters only through :class:`~imagegate.providers.registry.AdapterRegistry`.
"""
