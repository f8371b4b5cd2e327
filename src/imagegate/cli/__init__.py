"""The ``imagegate`` command line."""
