"""Shutdown drain under ``imagegate serve``'s server settings: requests in flight finish within the
grace; what still runs after it is answered 503 in its client's dialect, without a traceback."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx

from tests.store.fixtures import migrated_sqlite_engine
from tests.support.gateway import running_gateway, sandbox_models_config, wait_for_calls_in_flight

GRACE_S = 1.0


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _in_thread(call: Callable[[], httpx.Response], answers: dict[str, httpx.Response], name: str) -> threading.Thread:
    thread = threading.Thread(target=lambda: answers.__setitem__(name, call()))
    thread.start()
    return thread


def test_sigterm_drains_within_the_grace_then_answers_in_each_dialect(sandbox_url, tmp_path):
    engine = migrated_sqlite_engine(tmp_path / "drain.db")
    records = Records()
    # uvicorn's own loggers do not propagate to the root logger (and are configured at server start).
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    answers: dict[str, httpx.Response] = {}
    try:
        with running_gateway(
            engine, sandbox_models_config(sandbox_url, ["gpt-image-2"]), shutdown_grace_s=GRACE_S
        ) as handle:
            for logger in loggers:
                logger.addHandler(records)
            key = handle.create_key("drain")
            since = time.time() - 0.001

            def openai(prompt: str) -> Callable[[], httpx.Response]:
                body = {"model": "gpt-image-2", "prompt": prompt, "size": "1024x1024", "quality": "low"}
                headers = {"authorization": f"Bearer {key}"}
                return lambda: httpx.post(handle.url + "/v1/images/generations", json=body, headers=headers, timeout=20)

            def gemini(prompt: str) -> Callable[[], httpx.Response]:
                body = {"contents": [{"parts": [{"text": prompt}]}]}
                url = handle.url + "/v1beta/models/gpt-image-2:generateContent"
                return lambda: httpx.post(url, json=body, headers={"x-goog-api-key": key}, timeout=20)

            threads = [
                _in_thread(openai("a fox [sandbox:slow=0.5]"), answers, "finishes"),
                _in_thread(openai("a fox [sandbox:hang]"), answers, "openai"),
                _in_thread(gemini("a fox [sandbox:hang]"), answers, "gemini"),
            ]
            wait_for_calls_in_flight(sandbox_url, since, 1, "slow")
            wait_for_calls_in_flight(sandbox_url, since, 2, "hang")
            assert handle.server is not None
            stopping = time.monotonic()
            handle.server.should_exit = True  # what SIGTERM does
            for thread in threads:
                thread.join(20)
            waited = time.monotonic() - stopping
    finally:
        for logger in loggers:
            logger.removeHandler(records)
        engine.dispose()
    assert answers["finishes"].status_code == 200, answers["finishes"].text
    refused = answers["openai"]
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "gateway_unavailable"
    google = answers["gemini"]
    assert google.status_code == 503 and google.json()["error"]["status"] == "UNAVAILABLE"
    assert GRACE_S <= waited < GRACE_S + 5
    messages = [record.getMessage() for record in records.records]
    assert any("graceful shutdown exceeded" in message for message in messages)  # the capture works
    tracebacks = [record.getMessage() for record in records.records if record.exc_info is not None]
    assert tracebacks == []
