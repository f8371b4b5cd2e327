"""Black Forest Labs' own FLUX API: submit, poll ``polling_url``, download the signed result."""

from imagegate.providers.bfl.adapter import BflAdapter

__all__ = ["BflAdapter"]
