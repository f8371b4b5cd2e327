"""The one driver of submit-and-poll hosts: submit, poll under the deadline, download, or cancel.

Every provider call goes through :func:`exchange`. A synchronous host's answer comes back as it
is; when the adapter's ``accepted_task`` says the 2xx answer started a task, the task is polled
(an interval growing with backoff, honouring ``Retry-After`` on a 429) until the adapter reads
it as ready or failed, or the route's timeout passes. The service sees one call either way: the
submit is the attempt (and its ledger row), the polls are not.

A caller that must survive its own process (a job) passes ``on_accepted``: it is awaited with the
accepted task (``AcceptedTask``, a JSON-ready document) before the first poll, so the caller can
keep it durably; after a restart ``Poller.resume`` follows that task to its end instead of
submitting again. Neither side knows the other: the provider only names its task, the caller
only stores a document.

Leaving early calls the task off at the host (its cancel call, where it has one): on the
deadline, when the request is cancelled (the client hung up, the alias deadline passed), and on
any error while the task may still run.

URL policy (``providers.outbound``): polling, cancel and result URLs come from the host's
answers, so each is checked before it is called: its host must be one of the provider's API hosts
(the adapter's documented ``api_hosts`` and the route's base URL host), or for result files one
of its ``result_hosts`` (plus the route's ``options.result_hosts``); and every address it
resolves to must be public, unless the route's base URL itself is a private address (a sandbox or
an in-house deployment), whose network is then allowed, or the route's ``options.allow_networks``
lists it. The provider's credentials go only to API hosts (polls and cancels); result files are
downloaded without them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from imagegate.domain.errors import InvalidRequest, ProviderError, UpstreamBadResponse, UpstreamTimeout
from imagegate.providers.accepted_task import AcceptedTask, TaskAccepted
from imagegate.providers.base import (
    FetchedFile,
    PollTask,
    ProviderAdapter,
    RouteTarget,
    WireRequest,
    WireResponse,
)
from imagegate.providers.http import HttpExecutor
from imagegate.providers.outbound import (
    IPAddress,
    IPNetwork,
    OutboundBlocked,
    check_addresses,
    host_allowed,
    is_public,
    parse_cidrs,
)

log = logging.getLogger("imagegate.providers.polling")

LOOPBACK: tuple[IPNetwork, ...] = parse_cidrs(["127.0.0.0/8", "::1/128"])
# Only to learn what the base URL resolves to (every answer accepted).
ANYWHERE: tuple[IPNetwork, ...] = parse_cidrs(["0.0.0.0/0", "::/0"])


@dataclass(frozen=True, slots=True)
class PollTiming:
    """How often to poll: ``first_s``, growing by ``backoff`` up to ``max_s``; the cancel call's own timeout."""

    first_s: float = 0.5
    backoff: float = 1.5
    max_s: float = 4.0
    cancel_timeout_s: float = 5.0

    def interval(self, polls: int) -> float:
        """Seconds to wait before poll number ``polls`` (0-based)."""
        return min(self.max_s, self.first_s * self.backoff**polls)


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """Where one route's polling and result URLs may lead (see the module docstring)."""

    api_hosts: tuple[str, ...]
    result_hosts: tuple[str, ...]
    allow: tuple[IPNetwork, ...]

    async def request(self, method: str, url: str, headers: dict[str, str], *, result: bool) -> WireRequest:
        """The call to ``url``, pinned to an address checked here; ``UpstreamBadResponse`` if it may not be made.

        The URL's host is replaced by the address that was checked (the ``Host`` header and the TLS
        name keep the original), so a DNS answer that changes after the check cannot redirect it.
        """
        hosts = self.api_hosts + self.result_hosts if result else self.api_hosts
        what = "result" if result else "polling"
        parts = urlsplit(url)
        if not host_allowed(url, hosts):
            raise UpstreamBadResponse(
                f"the provider's {what} URL points at {parts.hostname!r}, which is not one of its hosts"
            )
        try:
            addresses = await check_addresses(url, self.allow)
        except OutboundBlocked as blocked:
            raise UpstreamBadResponse(f"the provider's {what} URL may not be followed: {blocked}") from None
        return pinned(method, url, headers, addresses)


def pinned(method: str, url: str, headers: dict[str, str], addresses: Sequence[IPAddress]) -> WireRequest:
    """``url`` with its host replaced by one of ``addresses`` (IPv4 first), ``Host`` and TLS name kept."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return WireRequest(method, url, headers)  # already an address: nothing to resolve again
    except ValueError:
        pass
    address = next((a for a in addresses if a.version == 4), addresses[0])
    literal = str(address) if address.version == 4 else f"[{address}]"
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    original = host if parts.port is None else f"{host}:{parts.port}"
    return WireRequest(
        method,
        urlunsplit(parts._replace(netloc=netloc)),
        {**headers, "host": original},
        server_hostname=host if parts.scheme == "https" else None,
    )


def _text_list(route: RouteTarget, option: str) -> tuple[str, ...]:
    value = route.options.get(option)
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"route {route.name!r}: option {option!r} must be a list of strings", param=option)
    return tuple(value)


def route_timing(route: RouteTarget, default: PollTiming) -> PollTiming:
    """``default`` with the route's ``options.poll_interval`` (seconds before the first poll) applied."""
    value = route.options.get("poll_interval")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 60:
        raise InvalidRequest(
            f"route {route.name!r}: option 'poll_interval' must be a number of seconds in (0, 60]",
            param="poll_interval",
        )
    return dataclasses.replace(default, first_s=float(value), max_s=max(default.max_s, float(value)))


def check_route_options(route: RouteTarget) -> None:
    """Raise ``InvalidRequest`` naming the option when a route's polling options are unusable."""
    route_timing(route, PollTiming())
    _text_list(route, "result_hosts")
    try:
        parse_cidrs(_text_list(route, "allow_networks"))
    except ValueError as error:
        raise InvalidRequest(
            f"route {route.name!r}: option 'allow_networks': {error}", param="allow_networks"
        ) from None


async def url_policy(adapter: ProviderAdapter, route: RouteTarget) -> UrlPolicy:
    """The policy of ``route``: documented hosts, the base URL's host, and the route's options."""
    base_host = urlsplit(route.base_url).hostname or ""
    allow = list(parse_cidrs(_text_list(route, "allow_networks")))
    try:
        literal = ipaddress.ip_address(base_host.strip("[]"))
        addresses = [literal]
    except ValueError:
        addresses = []
        if base_host == "localhost":
            allow.extend(LOOPBACK)
        elif base_host != "":
            try:
                addresses = await check_addresses(route.base_url, ANYWHERE)
            except OutboundBlocked:
                addresses = []
    for address in addresses:
        if address.is_loopback:
            allow.extend(LOOPBACK)
        elif not is_public(address):
            allow.append(ipaddress.ip_network(address))
    return UrlPolicy(
        api_hosts=(*adapter.api_hosts, base_host),
        result_hosts=(*adapter.result_hosts, *_text_list(route, "result_hosts")),
        allow=tuple(allow),
    )


class Poller:
    """Runs one provider call to completion (see the module docstring)."""

    def __init__(
        self, http: HttpExecutor, *, timing: PollTiming | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._http = http
        self._timing = PollTiming() if timing is None else timing
        self._clock = clock

    async def exchange(
        self,
        adapter: ProviderAdapter,
        wire: WireRequest,
        route: RouteTarget,
        *,
        on_accepted: TaskAccepted | None = None,
    ) -> WireResponse:
        """Send ``wire``; for a submit-and-poll host, follow the task to its end within ``route.timeout_s``.

        A non-2xx answer to the submit is returned as is (the caller maps it). A task that fails
        raises the adapter's error; one that outlives the timeout raises ``UpstreamTimeout`` after
        the host was asked to cancel it. ``on_accepted`` is awaited with a task still running
        before it is polled (if it raises, the task is called off and the error raised).
        """
        deadline = self._clock() + route.timeout_s
        # Known before the submit, so nothing stands between an accepted task and the try below.
        policy = await url_policy(adapter, route) if adapter.api_hosts or adapter.result_hosts else None
        submitted = await self._http.send(wire, timeout_s=route.timeout_s)
        if submitted.status >= 300:
            return submitted
        task = adapter.accepted_task(submitted, route)
        if task is None:
            return submitted
        if policy is None:
            policy = await url_policy(adapter, route)
        # A task that already failed has nothing left to resume.
        report = on_accepted if task.state.status != "failed" else None
        return await self._see_through(adapter, route, policy, AcceptedTask(task, submitted), deadline, report)

    async def resume(self, adapter: ProviderAdapter, accepted: AcceptedTask, route: RouteTarget) -> WireResponse:
        """Follow a task accepted earlier (by another process) to its end, as ``exchange`` would have.

        The route's timeout counts from now; leaving early calls the task off, as in ``exchange``.
        """
        deadline = self._clock() + route.timeout_s
        policy = await url_policy(adapter, route)
        return await self._see_through(adapter, route, policy, accepted, deadline, None)

    async def call_off(self, adapter: ProviderAdapter, accepted: AcceptedTask, route: RouteTarget) -> None:
        """Cancel a task accepted earlier (by another process) at its host, where it has a cancel call."""
        policy = await url_policy(adapter, route)
        await self._cancel(adapter, route, policy, accepted.task)

    async def _see_through(
        self,
        adapter: ProviderAdapter,
        route: RouteTarget,
        policy: UrlPolicy,
        accepted: AcceptedTask,
        deadline: float,
        on_accepted: TaskAccepted | None,
    ) -> WireResponse:
        task = accepted.task
        timing = route_timing(route, self._timing)
        try:
            if on_accepted is not None:
                await on_accepted(accepted)
            return await self._follow(adapter, route, policy, timing, accepted.submitted, task, deadline)
        except _Finished as finished:
            raise finished.error from None
        except BaseException as leaving:
            # The task may still be running (and billing): call it off, whatever ended the wait.
            if isinstance(leaving, ProviderError) and leaving.provider_request_id is None:
                leaving.provider_request_id = task.id
            await self._cancel(adapter, route, policy, task)
            raise

    async def _follow(
        self,
        adapter: ProviderAdapter,
        route: RouteTarget,
        policy: UrlPolicy,
        timing: PollTiming,
        submitted: WireResponse,
        task: PollTask,
        deadline: float,
    ) -> WireResponse:
        state = task.state
        answer = submitted
        polls = 0
        while True:
            if state.status == "failed":
                assert state.error is not None
                _identify(state.error, answer, task)
                raise _Finished(state.error)
            if state.status == "ready":
                try:
                    files = await self._download(adapter, route, policy, state.files, deadline)
                except ProviderError as lost:
                    _identify(lost, answer, task)
                    raise _Finished(lost) from None
                return WireResponse(
                    status=answer.status, headers=submitted.headers, body=answer.body, submitted=submitted, files=files
                )
            if state.status == "follow":
                assert state.follow_url is not None
                url = state.follow_url
            else:
                url = task.poll_url
                await self._wait(timing.interval(polls), deadline, route)
                polls += 1
            poll = await policy.request("GET", url, adapter.auth_headers(route), result=False)
            response = await self._http.send(poll, timeout_s=self._remaining(deadline, route))
            if response.status >= 300:
                error = adapter.error_from_wire(response)
                if not error.retryable:
                    # The host refused to say more about the task (moderated, gone, key revoked):
                    # its answer ends the task for us, and a cancel call would be refused the same way.
                    _identify(error, response, task)
                    raise _Finished(error)
                # A throttled or failing poll says nothing about the task: ask again later.
                hint = error.retry_after if error.retry_after is not None else timing.interval(polls)
                await self._wait(hint, deadline, route)
                continue
            answer = response
            state = adapter.poll_state(response, task)

    def _remaining(self, deadline: float, route: RouteTarget) -> float:
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise UpstreamTimeout(f"the provider's task did not finish within {route.timeout_s:g} s")
        return remaining

    async def _wait(self, seconds: float, deadline: float, route: RouteTarget) -> None:
        remaining = self._remaining(deadline, route)
        if seconds >= remaining:
            await asyncio.sleep(remaining)
            self._remaining(deadline, route)
        await asyncio.sleep(seconds)

    async def _download(
        self,
        adapter: ProviderAdapter,
        route: RouteTarget,
        policy: UrlPolicy,
        urls: Sequence[str],
        deadline: float,
    ) -> tuple[FetchedFile, ...]:
        files = []
        for url in urls:
            # Result URLs are signed or public: the provider's key never goes with them.
            download = await policy.request("GET", url, {}, result=True)
            response = await self._http.send(download, timeout_s=self._remaining(deadline, route))
            if response.status >= 300:
                # An expired signed URL (403/404) or a failing file host: the image is lost.
                raise UpstreamBadResponse(
                    f"the provider's result file could not be downloaded (HTTP {response.status})",
                    provider_status=response.status,
                )
            files.append(FetchedFile(response.body, response.headers.get("content-type")))
        return tuple(files)

    async def _cancel(self, adapter: ProviderAdapter, route: RouteTarget, policy: UrlPolicy, task: PollTask) -> None:
        wire = adapter.cancel_wire(task, route)
        if wire is None:
            return
        try:
            wire = await policy.request(wire.method, wire.url, wire.headers, result=False)
        except UpstreamBadResponse as refused:
            log.warning("not cancelling task %s on route %s: %s", task.id, route.name, refused)
            return
        # Shielded: this runs while the request itself is being cancelled.
        sending = asyncio.ensure_future(self._http.send(wire, timeout_s=self._timing.cancel_timeout_s))
        try:
            response = await asyncio.shield(sending)
        except asyncio.CancelledError:
            raise
        except ProviderError as error:
            log.warning("cancelling task %s on route %s failed: %s", task.id, route.name, error)
            return
        if response.status >= 300:
            log.warning("cancelling task %s on route %s: HTTP %d", task.id, route.name, response.status)


class _Finished(Exception):
    """The task ended at the host (nothing to cancel); carries the error to raise."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


def _identify(error: ProviderError, answer: WireResponse, task: PollTask) -> None:
    if error.provider_status is None:
        error.provider_status = answer.status
    if error.provider_request_id is None:
        error.provider_request_id = task.id
