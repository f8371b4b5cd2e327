"""Request ids: ``req_`` + 32 hex digits, distinct across calls and across forked workers."""

from __future__ import annotations

import os
import re

from imagegate.api.http import new_request_id


def test_request_ids_have_the_documented_shape_and_do_not_repeat():
    ids = [new_request_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_child_draws_other_ids_than_its_parent():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first ids, back to the parent
        os.close(read)
        os.write(write, " ".join(new_request_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(write)
    parent = [new_request_id() for _ in range(3)]
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    os.waitpid(pid, 0)
    assert len(child) == 3
    assert set(child).isdisjoint(parent)
