"""LoopHandoff: puts on an event loop reach the worker once per iteration, in order; elsewhere at once."""

from __future__ import annotations

import asyncio
import threading

from imagegate.accounting.handoff import LoopHandoff


def test_puts_of_one_loop_iteration_are_delivered_together_after_the_step_yields():
    delivered: list[list[int]] = []
    handoff: LoopHandoff[int] = LoopHandoff(delivered.append)

    async def main() -> list[list[int]]:
        handoff.put(1)
        handoff.put(2)
        seen_before_yield = list(delivered)
        await asyncio.sleep(0)
        handoff.put(3)
        await asyncio.sleep(0)
        return seen_before_yield

    seen_before_yield = asyncio.run(main())
    assert seen_before_yield == []  # nothing crossed while the step was still running
    assert delivered == [[1, 2], [3]]


def test_a_put_off_the_loop_delivers_at_once_after_what_was_staged():
    delivered: list[list[str]] = []
    handoff: LoopHandoff[str] = LoopHandoff(delivered.append)

    async def stage_then_hand_over() -> None:
        handoff.put("begin")
        # Another thread puts before the loop's flush ran: the staged item goes first.
        worker = threading.Thread(target=handoff.put, args=("record",))
        worker.start()
        worker.join()

    asyncio.run(stage_then_hand_over())
    assert delivered == [["begin", "record"]]


def test_flush_from_another_thread_delivers_what_is_staged():
    delivered: list[list[int]] = []
    handoff: LoopHandoff[int] = LoopHandoff(delivered.append)

    async def main() -> None:
        handoff.put(7)
        flusher = threading.Thread(target=handoff.flush)
        flusher.start()
        flusher.join()
        assert delivered == [[7]]
        await asyncio.sleep(0)  # the loop's own flush then finds nothing

    asyncio.run(main())
    assert delivered == [[7]]


def test_a_loop_that_closed_with_its_flush_pending_does_not_strand_later_puts():
    delivered: list[list[int]] = []
    handoff: LoopHandoff[int] = LoopHandoff(delivered.append)
    first = asyncio.new_event_loop()

    def put_and_stop() -> None:
        handoff.put(1)  # its flush is scheduled for the next batch of callbacks...
        first.stop()  # ...which the loop never runs

    first.call_soon(put_and_stop)
    first.run_forever()
    first.close()
    assert delivered == []

    async def put_again() -> None:
        handoff.put(2)
        await asyncio.sleep(0)

    asyncio.run(put_again())
    assert delivered == [[1, 2]]
