"""Gauges read from the database when ``/metrics`` is scraped: what is left of each team's and
key's budget and image quota, and how many jobs are in each status.

Read by the process answering the scrape, never kept in prometheus_client's multiprocess files:
every worker and replica reads the same shared rows (ledger, admission holds, ``image_jobs``),
so any of them answers with the same figures and nothing is summed twice across workers.

Cardinality is bounded: only teams and keys that have a budget or an image quota get a series,
at most ``MAX_HOLDERS`` of each (the oldest first); ``imagegate_limit_holders_omitted`` says how
many more there were. Holders are labelled by name (a team's or key's name, never a secret).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import anyio.to_thread
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from imagegate.service.spend import SPEND_BY, SpendLine, SpendReport

log = logging.getLogger("imagegate.telemetry")

# Per kind (team, key): 50 teams and 50 keys at most, i.e. at most 200 budget and quota series.
MAX_HOLDERS = 50

JobCounts = Callable[[], dict[str, int]]


@dataclass(frozen=True, slots=True)
class StoreGauges:
    """One reading: spend lines of limited holders (and how many were left out), job counts.
    ``jobs`` is None without a job store (or when it could not be read)."""

    lines: list[SpendLine] = field(default_factory=list)
    omitted: dict[str, int] = field(default_factory=dict)
    jobs: dict[str, int] | None = None


class StoreStateReader:
    """Reads budget and quota headroom (``SpendReport``) and job counts at scrape time."""

    def __init__(self, spend: SpendReport | None, job_counts: JobCounts | None, max_holders: int = MAX_HOLDERS) -> None:
        self._spend = spend
        self._job_counts = job_counts
        self._max = max_holders

    async def read(self) -> StoreGauges:
        """The current figures; a store that fails leaves its part empty (and logs why)."""
        lines: list[SpendLine] = []
        omitted: dict[str, int] = {}
        if self._spend is not None:
            try:
                for by in SPEND_BY:
                    found, left_out = await self._spend.limited_lines(by, self._max)
                    lines.extend(found)
                    omitted[by] = left_out
            except Exception:
                log.warning("budgets unavailable for /metrics", exc_info=True)
                lines, omitted = [], {}
        jobs = None
        if self._job_counts is not None:
            try:
                jobs = await anyio.to_thread.run_sync(self._job_counts)
            except Exception:
                log.warning("job counts unavailable for /metrics", exc_info=True)
        return StoreGauges(lines=lines, omitted=omitted, jobs=jobs)


class StoreCollector(Collector):
    """The gauges of one ``StoreGauges`` reading."""

    def __init__(self, gauges: StoreGauges) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        budget = GaugeMetricFamily(
            "imagegate_budget_remaining_microusd",
            "Budget left in the current period, integer micro-dollars, after spend and requests in flight.",
            labels=("holder", "name", "period"),
        )
        budget_limit = GaugeMetricFamily(
            "imagegate_budget_limit_microusd",
            "The budget per period, integer micro-dollars.",
            labels=("holder", "name", "period"),
        )
        images = GaugeMetricFamily(
            "imagegate_images_remaining",
            "Images left in the current quota period, after images made and requests in flight.",
            labels=("holder", "name", "period"),
        )
        omitted = GaugeMetricFamily(
            "imagegate_limit_holders_omitted",
            f"Teams or keys with limits beyond the first {MAX_HOLDERS} of each, not given series.",
            labels=("holder",),
        )
        for line in self._gauges.lines:
            holder = line.holder
            if line.remaining_micros is not None and holder.limits.budget_micros is not None:
                labels = (holder.kind, holder.name, line.budget_period)
                budget.add_metric(labels, float(line.remaining_micros))
                budget_limit.add_metric(labels, float(holder.limits.budget_micros))
            if line.remaining_images is not None:
                images.add_metric((holder.kind, holder.name, line.quota_period), float(line.remaining_images))
        for kind, count in self._gauges.omitted.items():
            omitted.add_metric((kind,), float(count))
        yield budget
        yield budget_limit
        yield images
        yield omitted
        if self._gauges.jobs is not None:
            jobs = GaugeMetricFamily(
                "imagegate_jobs", "Image jobs stored, by status (queue depth: queued).", labels=("status",)
            )
            for status, count in self._gauges.jobs.items():
                jobs.add_metric((status,), float(count))
            yield jobs
