"""The spool line: what ``encode_entry`` would write for the entry, read back by ``decode_entry``."""

from __future__ import annotations

import errno
import mmap
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from imagegate.accounting.ports import LedgerEntry, PendingAttempt
from imagegate.store.attempt_spool import FileAttemptSpool, lines_of
from imagegate.store.pending_attempts import decode_entry, encode_entry


def _entry() -> LedgerEntry:
    return LedgerEntry(
        request_id="req_0123456789abcdef0123456789abcdef",
        attempt=2,
        model="gpt-image-2",
        provider="openai",
        provider_model="gpt-image-2",
        route="openai-main",
        operation="generate",
        dialect="openai",
        status="unknown",
        created_at=datetime(2026, 12, 7, 1, 2, 3, 456789, tzinfo=UTC),
        key_id=4,
        key_name="ci",
        team="design",
        tags={"feature": "hero"},
        error_code="outcome_unknown",
        usage={"input_tokens": 12, "output_tokens_details": {"image_tokens": 272}},
        cost_micros=42_000,
        cost_estimated=True,
        stream=True,
    )


def test_a_spool_line_holds_the_entry_as_encode_entry_writes_it(tmp_path):
    entry = _entry()
    resolve_after = entry.created_at + timedelta(seconds=60)
    spool = FileAttemptSpool(tmp_path)
    spool.append(PendingAttempt(entry, resolve_after))
    [line] = lines_of(spool.path.read_bytes())
    record = orjson.loads(line)
    assert record["entry"] == encode_entry(entry)
    assert record["resolve_after"] == resolve_after.isoformat()
    assert decode_entry(record["entry"]) == entry
    spool.close()


def _pending(index: int) -> PendingAttempt:
    entry = replace(_entry(), request_id=f"req_{index:032x}")
    return PendingAttempt(entry, entry.created_at + timedelta(seconds=60))


def test_open_attempts_that_outgrow_the_mapping_are_all_kept_and_recovered(tmp_path):
    spool = FileAttemptSpool(tmp_path, compact_bytes=1000)  # a one-page mapping: ~6 lines
    for index in range(40):
        spool.append(_pending(index))
    spool.close()  # attempts still open: the file stays, unlocked, as after a kill
    recovering = FileAttemptSpool(tmp_path)
    [(token, found)] = recovering.recover()
    assert sorted(item.entry.request_id for item in found) == [f"req_{index:032x}" for index in range(40)]
    recovering.release(token, stored=True)
    recovering.close()


def test_a_line_copied_into_the_mapping_survives_the_process_being_killed(tmp_path):
    child = textwrap.dedent(
        f"""
        import os, signal, sys
        from datetime import timedelta
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_attempt_spool import _pending
        from pathlib import Path
        from imagegate.store.attempt_spool import FileAttemptSpool
        spool = FileAttemptSpool(Path({str(tmp_path)!r}))
        spool.append(_pending(7))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    finished = subprocess.run([sys.executable, "-c", child], check=False)
    assert finished.returncode == -signal.SIGKILL
    recovering = FileAttemptSpool(tmp_path)
    [(token, found)] = recovering.recover()
    assert [item.entry for item in found] == [_pending(7).entry]
    recovering.release(token, stored=True)
    recovering.close()
    assert list(tmp_path.glob("*.spool")) == []


def test_the_spool_file_has_its_blocks_reserved_not_a_sparse_hole(tmp_path):
    # A copy into a page of a sparse file whose block the disk cannot supply is a SIGBUS; reserved
    # blocks turn a full disk into an error when reserving instead.
    spool = FileAttemptSpool(tmp_path, compact_bytes=64 * 1024)
    stat = spool.path.stat()
    assert stat.st_size == 128 * 1024
    assert stat.st_blocks * 512 >= stat.st_size
    spool.close()


def test_a_rewrite_that_cannot_reserve_its_file_keeps_the_current_one(tmp_path, monkeypatch):
    spool = FileAttemptSpool(tmp_path, compact_bytes=1000)  # a one-page mapping
    spool.append(_pending(1))
    fits = mmap.PAGESIZE // (len(lines_of(spool.path.read_bytes())[0]) + 1)
    for index in range(2, fits + 1):
        spool.append(_pending(index))

    def disk_full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", disk_full)
    with pytest.raises(OSError, match="No space left"):
        spool.append(_pending(fits + 1))  # needs a rewrite into a larger file
    monkeypatch.undo()
    assert [name.name for name in tmp_path.iterdir()] == [spool.path.name]  # no temporary left
    spool.append(_pending(99))  # the disk back: this append's rewrite succeeds, keeping every line
    spool.close()
    recovering = FileAttemptSpool(tmp_path)
    [(token, found)] = recovering.recover()
    expected = [f"req_{index:032x}" for index in [*range(1, fits + 1), 99]]
    assert sorted(item.entry.request_id for item in found) == expected
    recovering.release(token, stored=True)
    recovering.close()
