"""The long-path feature buffer of StreamNet, and the stamp monitor that decides when to reset it.

The paper's buffer "updates support-frame features with the current frame" (specs/streamnet.md
section 3.3): keep the per-frame features of the last N*dt frames, read [t-dt, t-2dt, ..., t-N*dt]
(most recent first, the training order), then push frame t. At start-up the buffer is filled with
copies of the first frame, which is what training does at fid = 0. Storage is preallocated once,
so memory stays flat however long the node runs. A frame's entry holds the bundle's
``history.features`` only: what its family's encoder computes once per frame for later steps,
which need not be what the current step reads (the family's module says which is which).

The entries are the frames the detector processed. When the camera outruns the model, frames are
dropped before they are encoded, so t-dt is the previous *processed* frame, further back in time
than in training; the node reports drops in /diagnostics, and a model that cannot keep up with
the camera should be made faster (TensorRT, a smaller variant) rather than run on stale history.
"""
from __future__ import annotations

import collections
import statistics
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np


class FeatureBuffer:
    """Ring buffer of per-frame features.

    Args:
        shapes: feature name -> shape of one frame's tensor (e.g. ``{'l0': (1, 21, 48, 80)}``):
            the buffered features only (the bundle's ``history.features``).
        frames: N, the history length the forecast graph reads; 0 for a model without history
            (the N = 0 ablation), whose buffer holds nothing and gives no history inputs.
        step: dt in frames between two history entries.
    """

    def __init__(self, shapes: Dict[str, Sequence[int]], frames: int, step: int = 1):
        if frames < 0 or step < 1:
            raise ValueError(f'feature buffer: frames ({frames}) must be >= 0 and step ({step}) '
                             '>= 1')
        self.frames, self.step = int(frames), int(step)
        self.capacity = self.frames * self.step
        self.names = list(shapes)
        # one [capacity, *shape] block per feature: slots are overwritten in place
        self.storage = {n: np.zeros((self.capacity,) + tuple(s), np.float32)
                        for n, s in shapes.items()}
        self.head = -1          # slot of the most recent frame
        self.pushed = 0         # real frames pushed since the last reset (for "fill")

    @property
    def empty(self) -> bool:
        return self.head < 0

    @property
    def fill(self) -> float:
        """Fraction of the slots holding real frames (start-up copies do not count)."""
        if not self.capacity:
            return 1.0
        return min(self.pushed, self.capacity) / self.capacity

    def reset(self) -> None:
        self.head = -1
        self.pushed = 0

    def _check(self, features: Dict[str, np.ndarray]) -> None:
        for n in self.names:
            if n not in features:
                raise ValueError(f'feature buffer: missing feature "{n}" (got {sorted(features)})')
            if features[n].shape != self.storage[n].shape[1:]:
                raise ValueError(f'feature buffer: "{n}" has shape {features[n].shape}, expected '
                                 f'{self.storage[n].shape[1:]}')

    def prime(self, features: Dict[str, np.ndarray]) -> None:
        """Fill every slot with copies of one frame (start-up and after a reset)."""
        self._check(features)
        for n in self.names:
            self.storage[n][:] = features[n]
        self.head = self.capacity - 1

    def push(self, features: Dict[str, np.ndarray]) -> None:
        """Store frame t's features (copied in place; the caller may reuse its arrays)."""
        self._check(features)
        self.pushed += 1
        if not self.capacity:
            return
        if self.empty:
            self.prime(features)
        self.head = (self.head + 1) % self.capacity
        for n in self.names:
            np.copyto(self.storage[n][self.head], features[n])

    def slot(self, k: int) -> int:
        """Slot of history entry k (1 = t-dt, ..., N = t-N*dt), read before frame t is pushed."""
        return (self.head - (k * self.step - 1)) % self.capacity

    def history_inputs(self) -> Dict[str, np.ndarray]:
        """``{name}_h{k}`` -> that entry's array, k = 1..N (views into the storage, no copies).

        Call before pushing frame t; an empty buffer must be primed first.
        """
        if not self.capacity:
            return {}
        if self.empty:
            raise RuntimeError('feature buffer is empty: prime() it with the first frame')
        return {name: self.storage[n][self.slot(k)]
                for name, n, k in history_entries(self.names, self.frames)}

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.storage.values())


class StampMonitor:
    """Watches header stamps: estimates the frame period, flags jumps back and leaps forward.

    A jump back (bag loop, a new sequence) or a leap forward of more than ``leap_periods`` frame
    periods (a stalled camera, frames lost) means the buffered history is no longer the past of
    this frame: the detector resets its buffer.
    """

    def __init__(self, leap_periods: float = 5.0, window: int = 30):
        self.leap_periods = float(leap_periods)
        self.diffs: collections.deque = collections.deque(maxlen=window)
        self.last: Optional[int] = None
        # frames the stamps say were taken but never seen (a gap of k periods: k - 1 of them);
        # on a node's input, what the middleware lost without telling (best-effort over Cyclone)
        self.missed = 0

    def reset(self) -> None:
        self.diffs.clear()
        self.last = None

    @property
    def period_ns(self) -> Optional[int]:
        """Median of the recent stamp differences (robust to a few dropped frames)."""
        if not self.diffs:
            return None
        return int(statistics.median(self.diffs))   # 30 ints: far cheaper than numpy here

    def observe(self, stamp_ns: int) -> str:
        """Classify a stamp: 'first', 'ok', 'repeat', 'back' (before the last) or 'leap'."""
        last, self.last = self.last, int(stamp_ns)
        if last is None:
            return 'first'
        diff = int(stamp_ns) - last
        if diff == 0:
            return 'repeat'     # the same frame again (a re-publish): not a new sequence
        if diff < 0:
            return 'back'
        period = self.period_ns
        if period is not None and diff > self.leap_periods * period:
            return 'leap'       # keep the old period: the gap says nothing about the rate
        if period is not None and diff > 1.5 * period:
            self.missed += int(round(diff / period)) - 1
        self.diffs.append(diff)
        return 'ok'


def history_entries(names: Sequence[str], frames: int) -> List[Tuple[str, str, int]]:
    """(input name, feature name, k) of the forecast graph's history inputs, k = 1..N, each
    feature in order: the one place the ``{name}_h{k}`` contract of ``bundle.py`` is spelled."""
    return [(f'{n}_h{k}', n, k) for k in range(1, frames + 1) for n in names]


def history_names(names: Sequence[str], frames: int) -> List[str]:
    """The forecast graph's history input names, k = 1..N, each feature in order."""
    return [name for name, _, _ in history_entries(names, frames)]
