"""Where a concurrency-1 request's added time goes, read from a packet capture of loopback.

Capture a run of the wrk harness's c1 cell on the gateway's and the upstream's ports, then read it:

    tcpdump -i lo -nn -s 96 'tcp port 18100 or tcp port 18000' -w /tmp/c1.pcap &
    ... wrk at concurrency 1 against the gateway on 18100 (upstream on 18000) ...
    .venv/bin/python bench/c1_phases.py /tmp/c1.pcap --gateway-port 18100 --upstream-port 18000

Per request (medians): the client's request reaching the gateway -> the gateway's request leaving
for the upstream (the request side: auth, parsing, planning, admission, the attempt noted, the
wire request built and sent); the upstream's first byte -> the gateway's first byte to the client
(the answer's headers turned around); the upstream's last byte -> the client's last byte (the tail
of the body through the gateway). A packet's time is when loopback carried it, so nothing here is
measured inside the gateway. Needs ``tcpdump`` (Debian's package) to read the capture.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess

_PACKET = re.compile(r"^(\d+\.\d+) IP [\d.]+\.(\d+) > [\d.]+\.(\d+): .* length (\d+)")


def requests(capture: str, gateway_port: int, upstream_port: int) -> list[dict[str, float]]:
    """The timestamps of each request's phases (payload-carrying packets only)."""
    text = subprocess.run(["tcpdump", "-nn", "-tt", "-r", capture], capture_output=True, text=True, check=True).stdout
    found: list[dict[str, float]] = []
    current: dict[str, float] | None = None
    for line in text.splitlines():
        match = _PACKET.match(line)
        if match is None or int(match.group(4)) == 0:
            continue
        at, source, destination = float(match.group(1)), int(match.group(2)), int(match.group(3))
        if destination == gateway_port:
            if current is not None:
                found.append(current)
            current = {"client_in": at}
        elif current is None:
            continue
        elif destination == upstream_port:
            current.setdefault("upstream_out", at)
        elif source == upstream_port:
            current.setdefault("upstream_first", at)
            current["upstream_last"] = at
        elif source == gateway_port:
            current.setdefault("client_first", at)
            current["client_last"] = at
    if current is not None:
        found.append(current)
    return [request for request in found if len(request) == 6]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("capture")
    parser.add_argument("--gateway-port", type=int, default=18100)
    parser.add_argument("--upstream-port", type=int, default=18000)
    args = parser.parse_args()
    seen = requests(args.capture, args.gateway_port, args.upstream_port)
    if not seen:
        raise SystemExit("no complete request in the capture (ports right?)")

    def median_ms(start: str, end: str) -> float:
        return statistics.median((request[end] - request[start]) * 1000 for request in seen)

    print(f"{len(seen)} requests (medians)")
    print(f"request side (client in -> upstream out):         {median_ms('client_in', 'upstream_out'):.3f} ms")
    print(f"upstream (request out -> its first byte):          {median_ms('upstream_out', 'upstream_first'):.3f} ms")
    print(f"headers turned around (upstream -> client first):  {median_ms('upstream_first', 'client_first'):.3f} ms")
    print(f"upstream body (its first -> last byte):            {median_ms('upstream_first', 'upstream_last'):.3f} ms")
    print(f"tail (upstream last -> client last byte):          {median_ms('upstream_last', 'client_last'):.3f} ms")
    print(f"whole request at the gateway (client in -> last):  {median_ms('client_in', 'client_last'):.3f} ms")


if __name__ == "__main__":
    main()
