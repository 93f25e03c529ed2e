"""Shrinking-tail scheduling (Li, Wang and Ramanan 2020, section 4 and appendix B.1; mtli/sAP
``util/schedule_sim.py`` ``p_shrinking_tail``, ``det/srt_det.py`` ``--dynamic-schedule``).

A single worker that becomes free between two frames can start on the newest frame at once, or
idle until the next one arrives. With r = the mean runtime in frame periods and x = the
fractional part of the current time in frames (how far into the current frame period the worker
is), starting now finishes at phase frac(x + r); waiting until the next frame finishes at phase
frac(r). Waiting pays when it shrinks that tail: the worker waits iff x >= 1 - frac(r). With
r = 1.7 it waits when x >= 0.3. When r < 1 the worker keeps up and never waits (the toolkit's
``mean_rtf >= 1`` guard); an integer r never waits. (The toolkit's ``rt_det.py`` rule "skip
when the remainder is over 0.5" is a different policy and is not this one.)

r is measured: the running mean of the last ``window`` runtimes, in whatever time unit the
caller uses for runtimes, periods and clocks (seconds in the node, the simulator's own unit in
replay). Before any runtime is known the worker never waits.

x here is the time since the newest frame arrived, in periods (its fractional part): on a
regular camera that is frac(time in frames), and it stays right when stamps jitter or a frame
is lost in transport.
"""
from __future__ import annotations

import collections
import math
from typing import Callable, Optional

SCHEDULES = ('immediate', 'shrinking_tail')


def waits(x: float, r: float) -> bool:
    """The shrinking-tail rule: wait for the next frame iff r >= 1 and x >= 1 - frac(r)."""
    if not r >= 1.0:
        return False
    # floor(x + r) > r is x >= 1 - frac(r) without rounding 1 - frac(r) first (the toolkit's
    # srt_det.py form): x = 0.3, r = 1.7 waits, as it must
    x = x - math.floor(x)
    return math.floor(x + r) > r


class ShrinkingTail:
    """The rule with r measured as it runs."""

    def __init__(self, window: int = 100):
        self.runtimes: collections.deque = collections.deque(maxlen=window)
        self.waited = 0                 # frames let go to wait for the next one

    def observe(self, runtime: float) -> None:
        self.runtimes.append(float(runtime))

    def mean_runtime(self) -> Optional[float]:
        return sum(self.runtimes) / len(self.runtimes) if self.runtimes else None

    def mean_frames(self, period: float) -> Optional[float]:
        """r: the mean runtime in frame periods (None before any runtime or period)."""
        mean = self.mean_runtime()
        if mean is None or not period or period <= 0:
            return None
        return mean / period

    def should_wait(self, since_newest: float, period: Optional[float]) -> bool:
        """Whether a worker free ``since_newest`` after the newest frame arrived should let that
        frame go and take the next one (counted in ``waited`` when True)."""
        r = self.mean_frames(period) if period else None
        # times added in floating point: a phase within 1e-9 frame of the boundary is on it
        # (0.16 + 0.06 - 0.2 s is 0.0199999... s; the toolkit's own simulator is exact)
        if r is None or not waits(max(0.0, since_newest) / period + 1e-9, r):
            return False
        self.waited += 1
        return True

    # -- the simulator's hooks (replay.simulate: ``wait`` and the runtime of each run) ----------
    def simulator_wait(self, period: float) -> Callable[[float, float], bool]:
        """``wait(free_at, newest_arrival)`` for ``simulate_stream``, in its time unit."""
        return lambda free_at, newest_arrival: self.should_wait(free_at - newest_arrival,
                                                                period)

    def timed(self, run: Callable) -> Callable:
        """``run`` that also records each runtime it returns."""
        def wrapped(item):
            runtime = run(item)
            self.observe(runtime)
            return runtime
        return wrapped
