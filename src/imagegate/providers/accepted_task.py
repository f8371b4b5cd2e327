"""A task a submit-and-poll host accepted, as a document a caller can keep and read back.

``providers.polling`` reports each accepted task to the caller's ``TaskAccepted`` before the
first poll, and ``Poller.resume`` / ``Poller.call_off`` take one read back from its document.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from imagegate.domain.errors import UpstreamBadResponse
from imagegate.providers.base import PollState, PollTask, WireResponse


@dataclass(frozen=True, slots=True)
class AcceptedTask:
    """A task a submit-and-poll host accepted, with the submit's answer (adapters read usage from it).

    ``document()`` is JSON-ready and ``from_document`` reads it back: what a job keeps so that a
    later process can poll the same task (``Poller.resume``). The submit's answer is a small JSON
    document (an id, URLs, a cost); it is kept as base64 so any body survives the round trip.
    """

    task: PollTask
    submitted: WireResponse

    def document(self) -> dict[str, Any]:
        """The task and the submit's answer as JSON values (no credentials: those stay on the route)."""
        task = self.task
        return {
            "id": task.id,
            "poll_url": task.poll_url,
            "cancel_url": task.cancel_url,
            "cancel_method": task.cancel_method,
            "result_url": task.result_url,
            "state": {
                "status": task.state.status,
                "files": list(task.state.files),
                "follow_url": task.state.follow_url,
            },
            "submitted": {
                "status": self.submitted.status,
                "headers": dict(self.submitted.headers),
                "body": base64.b64encode(self.submitted.body).decode("ascii"),
            },
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> AcceptedTask:
        """The task ``document()`` wrote; ``UpstreamBadResponse`` when it is not one."""
        try:
            state, submitted = document["state"], document["submitted"]
            task = PollTask(
                id=str(document["id"]),
                poll_url=str(document["poll_url"]),
                cancel_url=document["cancel_url"],
                cancel_method=str(document["cancel_method"]),
                result_url=document["result_url"],
                state=PollState(status=state["status"], files=tuple(state["files"]), follow_url=state["follow_url"]),
            )
            answer = WireResponse(
                status=int(submitted["status"]),
                headers=dict(submitted["headers"]),
                body=base64.b64decode(submitted["body"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise UpstreamBadResponse(f"a kept provider task cannot be read ({error!r})") from None
        return cls(task, answer)


TaskAccepted = Callable[[AcceptedTask], Awaitable[None]]
"""Told of a task the host accepted, before the first poll (``Poller.exchange``'s ``on_accepted``)."""
