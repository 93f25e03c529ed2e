"""The streaming simulation: frames arrive at their stamps, one detector serves them.

As on the vehicle (``node_core``: a one-slot mailbox in front of one worker thread) and as in the
sAP toolkit's simulated detector (``streamnet.md`` §8.2, mtli/sAP ``det/srt_det.py``):

* frame j arrives at ``arrival_j`` (its stamp); arrivals are non-decreasing within a stream;
* the detector handles one frame at a time; when it is free it takes the **newest** frame that
  has arrived (a frame arriving exactly when the detector frees up counts as arrived), and every
  older frame still waiting is dropped; when nothing is waiting it idles until the next arrival;
* ``start = max(arrival, previous finish)``, ``finish = start + latency``;
* the video ends one frame interval after its last frame (the toolkit's ``t_total = n / fps``;
  here the stream's mean interval, ``(last - first) // (n - 1)``): a detector that frees up at or
  after the end starts nothing more, so the frame still waiting then is dropped and, with a
  sampled latency, no runtime is drawn for it (the toolkit's draw order, which the next video
  continues). A run that started before the end is yielded even when it finishes after it (the
  toolkit discards that result; no frame is scored against it either way).

All times are **integer nanoseconds** on the input's clock, like the stamps: a runtime that is an
exact multiple of the frame interval lands exactly on a later frame's arrival, which float
seconds missed one time in a few.

The latency of a run is whatever ``run(frame)`` returns, so the same loop serves a measured wall
time (the detector really runs), a fixed latency, or a sampled one; the detector only ever sees
the frames it processes, in order, as on the vehicle.
"""
from __future__ import annotations

import dataclasses
import operator
from typing import Callable, Generic, Iterable, Iterator, List, Optional, TypeVar

T = TypeVar('T')


@dataclasses.dataclass(frozen=True)
class Processed(Generic[T]):
    """One detector run: the frame, when it arrived, started and finished (integer ns)."""

    item: T
    arrival_ns: int
    start_ns: int
    finish_ns: int

    @property
    def latency_ns(self) -> int:
        """Service time: finish - start."""
        return self.finish_ns - self.start_ns

    @property
    def delay_ns(self) -> int:
        """End-to-end: finish - arrival (waiting for the detector included)."""
        return self.finish_ns - self.arrival_ns


def _ns(value, what: str) -> int:
    """An integer ns count (Python or numpy int); a float is refused: float seconds are where
    the misses came from."""
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f'replay: {what} {value!r}; expected integer nanoseconds') from None


def simulate_stream(items: Iterable[T], arrival_ns: Callable[[T], int],
                    run_ns: Callable[[T], int],
                    on_drop: Optional[Callable[[T], None]] = None,
                    wait: Optional[Callable[[int, int], bool]] = None
                    ) -> Iterator[Processed[T]]:
    """Yields the detector runs of one stream, lazily (frames are pulled only when needed).

    Args:
        items: the frames in arrival order.
        arrival_ns: frame -> arrival time in integer ns.
        run_ns: processes a frame and returns its latency in integer ns (>= 0); called only for
            the frames that are processed, in order.
        on_drop: called with each frame that is overtaken while it waits, or still waits when
            the video ends.
        wait: a scheduling policy (``streaming.schedule``): ``wait(free_at_ns, arrival_ns)``
            when the detector frees up with a frame that arrived before; True lets that frame go
            (dropped) and the detector idles until the next one arrives.
    Raises:
        ValueError: arrivals going backwards, or a negative latency.
    """
    it = iter(items)
    first = last = None
    count = 0

    def pull():
        nonlocal first, last, count
        item = next(it, None)
        if item is not None:
            a = _ns(arrival_ns(item), 'frame arrival')
            if last is not None and a < last:
                raise ValueError(f'replay: frame arrival {a} ns is before the previous one '
                                 f'({last} ns); a stream must be in time order')
            first = a if first is None else first
            last, count = a, count + 1
        return item

    pending = pull()
    free_at = None
    while pending is not None:
        newest = pending
        pending = pull()
        start = arrival_ns(newest) if free_at is None else max(arrival_ns(newest), free_at)
        # Everything that has arrived by `start` competes for the slot; only the newest stays.
        while pending is not None and arrival_ns(pending) <= start:
            if on_drop is not None:
                on_drop(newest)
            newest = pending
            pending = pull()
        if (wait is not None and pending is not None and start > arrival_ns(newest)
                and wait(start, arrival_ns(newest))):
            if on_drop is not None:
                on_drop(newest)
            newest, pending = pending, pull()
            start = arrival_ns(newest)
            while pending is not None and arrival_ns(pending) <= start:
                if on_drop is not None:
                    on_drop(newest)
                newest, pending = pending, pull()
        if pending is None and count > 1 and last > first:
            end = last + (last - first) // (count - 1)   # one mean interval after the last frame
            if start >= end:   # the video is over: no run, no draw
                if on_drop is not None:
                    on_drop(newest)
                return
        latency = _ns(run_ns(newest), 'latency')
        if latency < 0:
            raise ValueError(f'replay: latency {latency} ns; expected a value >= 0')
        free_at = start + latency
        yield Processed(newest, int(arrival_ns(newest)), int(start), free_at)


def schedule(arrivals_ns: List[int], latencies_ns: Callable[[int], int],
             wait: Optional[Callable[[int, int], bool]] = None
             ) -> tuple[List[Processed[int]], List[int]]:
    """``simulate_stream`` over frame indices: (processed runs, dropped indices).

    ``latencies_ns(j)`` is the latency of frame j (integer ns) if it is processed.
    """
    dropped: List[int] = []
    runs = list(simulate_stream(range(len(arrivals_ns)), lambda j: arrivals_ns[j],
                                latencies_ns, dropped.append, wait))
    return runs, dropped
