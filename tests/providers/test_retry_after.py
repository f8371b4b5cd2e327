from datetime import UTC, datetime
from email.utils import format_datetime

from imagegate.providers.retry_after import retry_after_seconds


def test_milliseconds_header_wins():
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5


def test_seconds_and_http_date():
    assert retry_after_seconds({"retry-after": "3"}) == 3.0
    now = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC).timestamp()
    date = format_datetime(datetime(2026, 11, 21, 10, 0, 7, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds({"retry-after": date}, now=now) == 7.0


def test_garbage_or_absent_gives_none():
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after-ms": "-5"}) is None
