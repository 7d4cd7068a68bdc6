"""A fair first-come, first-served queue for the runs that share one device.

A server with many browser sessions (a classroom) must not start thirty VGG19 runs at once
on one CPU: each would take thirty times longer and together they would exhaust memory.
Every run takes a :class:`Ticket`, waits until it is among the first ``slots`` tickets
still in the queue, runs, and leaves. A waiting caller can ask for its place and leave at
any time (cancel); leaving is idempotent, so it belongs in a ``finally``.

Thread-safe, and no polling inside: :meth:`RunQueue.wait` sleeps on a condition variable
for at most the given time, so the caller (the app's script thread) can update its page
and notice a Stop between waits.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Ticket:
    """One run's place in a queue."""

    number: int
    owner: str = ""


class RunQueue:
    """First come, first served, with ``slots`` runs at a time."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError(f"a queue needs at least one slot, not {slots}")
        self.slots = slots
        self._tickets: list[Ticket] = []  # in order of arrival; the first `slots` may run
        self._numbers = itertools.count(1)
        self._changed = threading.Condition()

    def join(self, owner: str = "") -> Ticket:
        """Take a place at the end of the queue."""
        with self._changed:
            ticket = Ticket(next(self._numbers), owner)
            self._tickets.append(ticket)
            self._changed.notify_all()
            return ticket

    def position(self, ticket: Ticket) -> int:
        """0 when the ticket may run; otherwise how many runs are ahead of it that must end first.

        Raises:
            KeyError: the ticket has left the queue.
        """
        with self._changed:
            return self._position(ticket)

    def wait(self, ticket: Ticket, timeout: float) -> int:
        """Wait up to ``timeout`` seconds for the ticket's turn; return its position then."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (place := self._position(ticket)) > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return place

    def begin(self, ticket: Ticket) -> None:
        """Record that the ticket's run has started (its position must be 0)."""
        with self._changed:
            if self._position(ticket) != 0:
                raise RuntimeError("a run began before its turn")

    def resize(self, slots: int) -> None:
        """Serve ``slots`` runs at a time from now on (workers joined or were lost)."""
        if slots < 1:
            raise ValueError(f"a queue needs at least one slot, not {slots}")
        with self._changed:
            self.slots = slots
            self._changed.notify_all()

    def leave(self, ticket: Ticket) -> None:
        """Give up the place or the slot; safe to call more than once."""
        with self._changed:
            if ticket in self._tickets:
                self._tickets.remove(ticket)
                self._changed.notify_all()

    @property
    def waiting(self) -> int:
        """Tickets not yet allowed to run."""
        with self._changed:
            return max(0, len(self._tickets) - self.slots)

    @property
    def running(self) -> int:
        """Tickets allowed to run now."""
        with self._changed:
            return min(len(self._tickets), self.slots)

    def _position(self, ticket: Ticket) -> int:
        index = self._tickets.index(ticket) if ticket in self._tickets else None
        if index is None:
            raise KeyError(f"ticket {ticket.number} is not in the queue")
        return max(0, index - self.slots + 1)
