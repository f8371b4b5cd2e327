"""What the console's pages read from the app (``app.py`` puts it on ``app.state.console``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from starlette.requests import Request

from imagegate.accounting.insights import LedgerInsights
from imagegate.accounting.reports import ReportStore
from imagegate.catalog import Catalog
from imagegate.routing.breaker import BreakerStore
from imagegate.routing.controls import ControlsHolder
from imagegate.routing.health import RouteHealth
from imagegate.service.compare_runs import CompareRuns
from imagegate.service.feedback import FeedbackService
from imagegate.service.gateway import Gateway
from imagegate.service.keys import KeyAdmin
from imagegate.service.route_control import RoutingAdmin
from imagegate.service.spend import SpendReport
from imagegate.service.teams import TeamAdmin
from imagegate.web.session import ConsoleSessions


@dataclass(frozen=True, slots=True)
class ConsoleDeps:
    """The collaborators every console page may use; built once by ``app.py``."""

    sessions: ConsoleSessions
    gateway: Gateway
    key_admin: KeyAdmin
    team_admin: TeamAdmin
    spend: SpendReport | None
    reports: ReportStore
    insights: LedgerInsights
    routing: RoutingAdmin | None
    catalog: Catalog
    today: Callable[[], date]
    master_key: str | None = None
    health: RouteHealth | None = None
    breakers: BreakerStore | None = None
    controls: ControlsHolder | None = None
    public_pricing: bool = True
    public_route_health: bool = False
    compare_runs: CompareRuns | None = None
    feedback: FeedbackService | None = None


def deps(request: Request) -> ConsoleDeps:
    """The console's collaborators for this request."""
    found: ConsoleDeps = request.app.state.console
    return found
