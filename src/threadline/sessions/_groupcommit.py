"""Group commit for database stores: appends that wait while others are being written
go to the database together.

A store's append normally runs as one statement in its own transaction: one commit, one
WAL flush, one round trip and the driver's per-statement work, each paid per append.
When many sessions append at once (a worker serving many conversations), those fixed
costs decide the throughput. :class:`GroupCommit` collects the appends that arrive
while another write of the store is in flight, then hands them to the store's
``write_group`` as one group (one statement, one transaction), so their fixed costs
are paid once. An append that finds nothing in flight is written on its own at once:
a single writer never waits for a group.

Rules the queue keeps:

- one append per key in a group, and a key is never in two groups at once (an append
  to a key already queued or being written waits for the next group), so the rows a
  group locks never overlap another group's: groups cannot deadlock each other, and
  appends to one key keep their order;
- a caller cancelled while its append is still queued is taken out: nothing is
  written; once its group has been sent, the write completes (as a single statement
  already sent would) and only the caller stops waiting;
- ``write_group`` settles every member (a result or an exception on its future);
  anything it lets escape settles the members it left.

asyncio only, like the stores that use it (psycopg's async API).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GroupCommit", "Member", "settle"]


@dataclass(eq=False)
class Member:
    """One append waiting in a group."""

    key: Hashable
    work: Any
    """What the store needs to write it (its planned batch and arguments)."""
    future: asyncio.Future[Any] = field(repr=False)


class GroupCommit:
    """Collects appends to distinct keys while writes are in flight; see the module doc.

    ``write_group(members)`` writes a group and settles each member's future.
    ``max_group`` bounds a group's size (the statement's parameters grow with it).
    """

    def __init__(
        self,
        write_group: Callable[[list[Member]], Awaitable[None]],
        *,
        max_group: int = 64,
        max_groups: int = 2,
    ) -> None:
        self._write_group = write_group
        self._max = max(1, max_group)
        self._max_groups = max(1, max_groups)
        self._queue: dict[Hashable, list[Member]] = {}
        self._writing: set[Hashable] = set()
        self._in_flight = 0
        self._flushers: set[asyncio.Task[None]] = set()
        self._starting = 0  # flushers created that have not taken a group yet
        self._singles = 0  # single writes claimed with begin() and not ended
        self._no_singles = asyncio.Event()
        self._no_singles.set()
        self.groups = 0
        """Groups written so far (for tests and benchmarks)."""
        self.grouped = 0
        """Appends written in those groups."""

    @property
    def busy(self) -> bool:
        """Whether a write is in flight or queued (a new append should then join a group)."""
        return self._in_flight > 0 or bool(self._queue)

    def begin(self, key: Hashable) -> bool:
        """Claim ``key`` for a single write now; ``False`` if it must queue instead."""
        if self.busy or key in self._writing:
            return False
        self._writing.add(key)
        self._in_flight += 1
        self._singles += 1
        self._no_singles.clear()
        return True

    def end(self, key: Hashable) -> None:
        """A single write claimed with :meth:`begin` is done."""
        self._writing.discard(key)
        self._in_flight -= 1
        self._singles -= 1
        if not self._singles:
            self._no_singles.set()
        self._kick()

    async def submit(self, key: Hashable, work: Any) -> Any:
        """Queue an append and wait for its group to be written; its result or error."""
        loop = asyncio.get_running_loop()
        member = Member(key, work, loop.create_future())
        self._queue.setdefault(key, []).append(member)
        self._kick()
        try:
            return await member.future
        except asyncio.CancelledError:
            self._drop(member)
            raise

    async def drain(self) -> None:
        """Wait until every queued append and every single write has been written
        (before closing the store)."""
        while self._flushers or self._singles:
            if self._flushers:
                await asyncio.shield(next(iter(self._flushers)))
            else:
                await self._no_singles.wait()

    # -- the flusher ---------------------------------------------------------

    def _drop(self, member: Member) -> None:
        waiting = self._queue.get(member.key)
        if waiting and member in waiting:
            waiting.remove(member)
            if not waiting:
                del self._queue[member.key]

    def _kick(self) -> None:
        """Start a flusher if appends can go and none is about to take them."""
        if (
            self._queue
            and self._starting == 0
            and len(self._flushers) < self._max_groups
            and any(key not in self._writing for key in self._queue)
        ):
            self._starting += 1
            task = asyncio.get_running_loop().create_task(self._flush())
            self._flushers.add(task)

    def _take(self) -> list[Member]:
        """The next group: the oldest waiting append of each key not being written."""
        group: list[Member] = []
        for key in list(self._queue):
            if len(group) >= self._max:
                break
            if key in self._writing:
                continue
            waiting = self._queue[key]
            member = waiting.pop(0)
            if not waiting:
                del self._queue[key]
            if member.future.done():  # cancelled while queued: not written
                continue
            group.append(member)
        return group

    async def _flush(self) -> None:
        starting = True
        try:
            while self._queue:
                group = self._take()
                if starting:
                    starting = False
                    self._starting -= 1
                if not group:
                    # every waiting key is being written: the write that ends kicks the
                    # queue again
                    return
                keys = {m.key for m in group}
                self._writing |= keys
                self._in_flight += 1
                self._kick()  # another group may form while this one is written
                try:
                    await self._write_group(group)
                except asyncio.CancelledError:
                    for member in group:
                        member.future.cancel()
                    raise
                except BaseException as exc:  # settle whatever write_group left
                    for member in group:
                        settle(member, error=exc)
                finally:
                    self._writing -= keys
                    self._in_flight -= 1
                self.groups += 1
                self.grouped += len(group)
        finally:
            if starting:
                self._starting -= 1
            task = asyncio.current_task()
            if task is not None:
                self._flushers.discard(task)
            self._kick()


def settle(member: Member, result: Any = None, error: BaseException | None = None) -> None:
    """Set a member's outcome unless its caller already stopped waiting."""
    if member.future.done():
        return
    if error is not None:
        member.future.set_exception(error)
    else:
        member.future.set_result(result)
