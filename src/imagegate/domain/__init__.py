"""The gateway's vocabulary: requests, results, usage, money, capabilities and the error tree.

Nothing here does I/O; every other layer depends on this one and it depends on nothing.
"""
