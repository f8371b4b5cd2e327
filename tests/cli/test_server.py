"""``imagegate serve --workers N``: the supervisor is built the way this uvicorn takes it."""

from __future__ import annotations

import socket

import pytest
from uvicorn.supervisors import multiprocess

from imagegate.cli.server import serve_forever
from imagegate.config.file import GatewayConfig
from imagegate.config.settings import Settings


def test_several_workers_start_a_supervisor_on_the_bound_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    # Was Multiprocess(config, target=..., sockets=...): a TypeError before any worker started.
    started: list[multiprocess.Multiprocess] = []
    monkeypatch.setattr(multiprocess.signal, "signal", lambda *args: None)  # keep pytest's handlers
    monkeypatch.setattr(multiprocess.Multiprocess, "run", lambda self: started.append(self))
    with socket.socket() as sock:
        serve_forever(Settings(), GatewayConfig(), sock, workers=2)
        [supervisor] = started
        assert supervisor.sockets == [sock] and supervisor.processes_num == 2
        assert supervisor.config.factory and supervisor.config.app == "imagegate.cli.server:app_from_env"
