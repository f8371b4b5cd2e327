"""What the per-attempt INFO log line costs the thread that logs it (the event loop).

Logs the attempt line ``--lines`` times, in a child process per setting so each starts clean, with
stderr a pipe this process reads (as under a supervisor), and prints microseconds per line on the calling thread (thread CPU time)
and for the whole process (the listener thread included):

- ``inline``: a plain ``StreamHandler`` on the root logger with the fields joined eagerly (before);
- ``queued``: ``configure_logging`` (a queue handler; a listener thread formats and writes) and
  the fields joined lazily, as ``service/attempts.py`` now logs it (after).

    .venv/bin/python bench/log_line.py --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

_CHILD = """
import logging, sys, time
from imagegate.service.attempts import _Fields
from imagegate.telemetry.json_logs import TEXT_FORMAT, configure_logging
mode, lines = sys.argv[1], int(sys.argv[2])
if mode == "inline":
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level="INFO", handlers=[handler])
else:
    configure_logging("info", "text")
log = logging.getLogger("imagegate.service.attempts")
thread0, process0 = time.thread_time(), time.process_time()
for number in range(lines):
    fields = {"request_id": f"req_{number}", "attempt": 1, "key": "bench", "model": "gpt-image-2",
              "route": "gpt-image-2/openai/gpt-image-2", "status": "ok", "error": None, "images": 1,
              "cost_micros": 19805, "latency_ms": 201}
    if mode == "inline":
        text = " ".join(f"{name}={value}" for name, value in fields.items())
        log.info("attempt %s", text, extra={"attempt": fields})
    else:
        log.info("attempt %s", _Fields(fields), extra={"attempt": fields})
thread1 = time.thread_time()
logging.shutdown()
from imagegate.telemetry import json_logs
if json_logs._listener is not None:
    json_logs._listener.stop()
print((thread1 - thread0) / lines * 1e6, (time.process_time() - process0) / lines * 1e6)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {"inline": [], "queued": []}
    for _ in range(args.rounds):  # alternating, so other load on the machine hits both alike
        for mode, runs in figures.items():
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, mode, str(args.lines)],
                capture_output=True,  # stderr a pipe a supervisor reads, as under systemd or docker
                text=True,
                check=True,
            )
            caller, process = (float(value) for value in done.stdout.split())
            runs.append((caller, process))
    for mode, runs in figures.items():
        caller = statistics.median(run[0] for run in runs)
        process = statistics.median(run[1] for run in runs)
        print(f"{mode:6}: {caller:6.1f} us per line on the logging thread, {process:6.1f} us per line in the process")


if __name__ == "__main__":
    main()
