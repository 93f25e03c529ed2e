"""The streaming simulation: frames arrive at their stamps, one detector serves them.

As on the vehicle (``node_core``: a one-slot mailbox in front of one worker thread) and as in the
sAP toolkit's simulated detector (``streamnet.md`` §8.2, ``srt_det.py``):

* frame j arrives at ``arrival_j`` (its stamp); arrivals are non-decreasing within a stream;
* the detector handles one frame at a time; when it is free it takes the **newest** frame that
  has arrived (a frame arriving exactly when the detector frees up counts as arrived), and every
  older frame still waiting is dropped; when nothing is waiting it idles until the next arrival;
* ``start = max(arrival, previous finish)``, ``finish = start + latency``.

The latency of a run is whatever ``run(frame)`` returns, so the same loop serves a measured wall
time (the detector really runs), a fixed latency, or a scaled one; the detector only ever sees
the frames it processes, in order, as on the vehicle.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable, Generic, Iterable, Iterator, List, Optional, TypeVar

T = TypeVar('T')


@dataclasses.dataclass(frozen=True)
class Processed(Generic[T]):
    """One detector run: the frame, when it arrived, started and finished (seconds)."""

    item: T
    arrival: float
    start: float
    finish: float

    @property
    def latency(self) -> float:
        """Service time: finish - start."""
        return self.finish - self.start

    @property
    def delay(self) -> float:
        """End-to-end: finish - arrival (waiting for the detector included)."""
        return self.finish - self.arrival


def simulate_stream(items: Iterable[T], arrival: Callable[[T], float],
                    run: Callable[[T], float],
                    on_drop: Optional[Callable[[T], None]] = None,
                    wait: Optional[Callable[[float, float], bool]] = None
                    ) -> Iterator[Processed[T]]:
    """Yields the detector runs of one stream, lazily (frames are pulled only when needed).

    Args:
        items: the frames in arrival order.
        arrival: frame -> arrival time in seconds.
        run: processes a frame and returns its latency in seconds (>= 0, finite); called only
            for the frames that are processed, in order.
        on_drop: called with each frame that is overtaken while it waits.
        wait: a scheduling policy (``streaming.schedule``): ``wait(free_at, arrival)`` when the
            detector frees up with a frame that arrived before; True lets that frame go
            (dropped) and the detector idles until the next one arrives.
    Raises:
        ValueError: arrivals going backwards, or a negative / non-finite latency.
    """
    it = iter(items)
    pending = next(it, None)
    last_arrival = -math.inf
    free_at = -math.inf

    def pull():
        nonlocal last_arrival
        item = next(it, None)
        if item is not None:
            a = float(arrival(item))
            if not a >= last_arrival:
                raise ValueError(f'replay: frame arrival {a} s is before the previous one '
                                 f'({last_arrival} s); a stream must be in time order')
            last_arrival = a
        return item

    if pending is not None:
        last_arrival = float(arrival(pending))
    while pending is not None:
        newest = pending
        pending = pull()
        start = max(float(arrival(newest)), free_at)
        # Everything that has arrived by `start` competes for the slot; only the newest stays.
        while pending is not None and float(arrival(pending)) <= start:
            if on_drop is not None:
                on_drop(newest)
            newest = pending
            pending = pull()
        if (wait is not None and pending is not None and start > float(arrival(newest))
                and wait(start, float(arrival(newest)))):
            if on_drop is not None:
                on_drop(newest)
            newest, pending = pending, pull()
            start = float(arrival(newest))
            while pending is not None and float(arrival(pending)) <= start:
                if on_drop is not None:
                    on_drop(newest)
                newest, pending = pending, pull()
        latency = float(run(newest))
        if not (math.isfinite(latency) and latency >= 0):
            raise ValueError(f'replay: latency {latency} s; expected a finite value >= 0')
        free_at = start + latency
        yield Processed(newest, float(arrival(newest)), start, free_at)


def schedule(arrivals: List[float], latencies: Callable[[int], float],
             wait: Optional[Callable[[float, float], bool]] = None
             ) -> tuple[List[Processed[int]], List[int]]:
    """``simulate_stream`` over frame indices: (processed runs, dropped indices).

    ``latencies(j)`` is the latency of frame j if it is processed.
    """
    dropped: List[int] = []
    runs = list(simulate_stream(range(len(arrivals)), lambda j: arrivals[j], latencies,
                                dropped.append, wait))
    return runs, dropped
