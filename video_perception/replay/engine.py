"""Drives a detector through a frame source as the vehicle would (``simulate.simulate_stream``).

A source is cut into streams where its segment changes (a dataset's videos) or its stamps jump
back (a bag that loops); every stream starts with a fresh detector state (``reset()``). Within a
stream the detector sees only the frames it processes, in order, with their header stamps, and
decides itself, as in the node, when a stamp leap or a new image size makes it forget its state.

Latency of a run (``LatencyModel``, in integer ns like the stamps): ``measured`` = the wall
time of ``detector.detect`` (letterbox, model, decoding of the outputs; not the image decode,
which a bag replay does differently from the camera driver), or a fixed number of seconds, or a
sample of a recorded distribution (``latency_model``); each is divided by ``speed``, the sAP
toolkit's ``perf_factor`` (2.0 = hardware twice as fast, 0.5 = twice as slow).
"""
from __future__ import annotations

import dataclasses
import itertools
import time
from typing import Callable, Iterable, List, Optional

import numpy as np

from video_perception.detections import Detections
from video_perception.detector import Detector
from video_perception.image_codec import ImageDecodeError
from video_perception.replay.simulate import simulate_stream
from video_perception.sources import SourceFrame


@dataclasses.dataclass
class LatencyModel:
    """fixed_s None: measured wall time; else that many seconds. Both divided by ``speed``."""

    fixed_s: Optional[float] = None
    speed: float = 1.0

    def __post_init__(self):
        if self.fixed_s is not None and not (np.isfinite(self.fixed_s) and self.fixed_s >= 0):
            raise ValueError(f'--latency {self.fixed_s}: expected "measured" or seconds >= 0')
        if not (np.isfinite(self.speed) and self.speed > 0):
            raise ValueError(f'--speed {self.speed}: expected a factor > 0')

    @classmethod
    def parse(cls, text: str, speed: float = 1.0) -> 'LatencyModel':
        """'measured' or a number of seconds."""
        if str(text).strip().lower() == 'measured':
            return cls(None, speed)
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"--latency {text!r}: expected 'measured' or seconds, e.g. 0.05")
        return cls(value, speed)

    def latency_ns(self, wall_s: float) -> int:
        """The runtime of one processed frame in integer ns, like the stamps (the simulation
        adds it to a stamp exactly); called once per processed frame, in order."""
        return int(round((wall_s if self.fixed_s is None else self.fixed_s) / self.speed * 1e9))

    def latency(self, wall_s: float) -> float:
        """``latency_ns`` in seconds (one call = one draw for a sampled model)."""
        return self.latency_ns(wall_s) / 1e9


@dataclasses.dataclass
class FrameRecord:
    """Every source frame, processed or not (for matching to ground truth and the video)."""

    index: int
    stamp_ns: int
    stream: int
    image_id: Optional[int]


@dataclasses.dataclass
class OutputRecord:
    """One detector output. Times in ns on the input's clock; ``bag_ns`` is the receive time
    used in the output bag (streams after the first are shifted to keep it increasing)."""

    index: int
    stream: int
    stamp_ns: int
    start_ns: int
    finish_ns: int
    bag_ns: int
    wall_s: float
    dets: Detections

    @property
    def latency_s(self) -> float:
        return (self.finish_ns - self.start_ns) / 1e9

    @property
    def delay_s(self) -> float:
        return (self.finish_ns - self.stamp_ns) / 1e9


@dataclasses.dataclass
class ReplayRun:
    frames: List[FrameRecord]
    outputs: List[OutputRecord]
    dropped: int = 0
    bad: int = 0
    streams: int = 0


def _streams(frames: Iterable[SourceFrame]):
    """Groups consecutive frames into streams: a new one at a segment change or a stamp going
    back."""
    state = {'n': -1, 'segment': object(), 'stamp': None}

    def key(f: SourceFrame) -> int:
        back = state['stamp'] is not None and f.stamp_ns < state['stamp']
        if f.segment != state['segment'] or back:
            state['n'] += 1
        state['segment'], state['stamp'] = f.segment, f.stamp_ns
        return state['n']
    return itertools.groupby(frames, key)


def run_replay(frames: Iterable[SourceFrame], detector: Detector, latency: LatencyModel,
               pixel_format: str = 'bgr',
               on_output: Optional[Callable[[SourceFrame, np.ndarray, OutputRecord], None]] = None,
               on_frame: Optional[Callable[[ReplayRun], None]] = None,
               schedule=None) -> ReplayRun:
    """Replays ``frames`` through ``detector`` (``detect`` and ``reset`` are used).

    Args:
        pixel_format: the detector's input order ('bgr' or 'rgb'); frames are loaded as BGR.
        on_output: called after every output with (frame, the image the detector saw, record),
            in finish order (so a bag writer gets increasing receive times).
        on_frame: called once per source frame consumed (processed, dropped or bad); progress.
        schedule: a ``streaming.schedule.ShrinkingTail`` (None: take the newest frame at once);
            its runtime mean runs on over the streams, the frame period is each stream's.
    Frames that fail to decode (``ImageDecodeError``) count as bad: no output, no time spent,
    as the node skips them.
    """
    run = ReplayRun([], [])
    bag_shift, last_bag = 0, None
    for stream_no, group in _streams(frames):
        run.streams += 1
        if stream_no > 0:
            detector.reset('new stream')
        first = None

        def recorded(group=group, stream_no=stream_no):
            nonlocal first, bag_shift
            for f in group:
                if first is None:
                    first = f.stamp_ns
                    if last_bag is not None:  # keep the bag's receive times increasing
                        bag_shift = max(0, last_bag + 1 - f.stamp_ns)
                run.frames.append(FrameRecord(f.index, f.stamp_ns, stream_no, f.image_id))
                yield f

        images = {}

        def process(f: SourceFrame) -> int:
            try:
                image = f.load()
            except ImageDecodeError:
                run.bad += 1
                return 0
            if pixel_format == 'rgb':
                image = np.ascontiguousarray(image[..., ::-1])
            t0 = time.perf_counter()
            dets = detector.detect(image, f.stamp_ns)
            wall = time.perf_counter() - t0
            images[f.index] = (image, dets, wall)
            return latency.latency_ns(wall)

        def dropped(f: SourceFrame) -> None:
            run.dropped += 1
            if on_frame is not None:
                on_frame(run)

        wait = None if schedule is None else _stream_wait(schedule, run, stream_no)
        for p in simulate_stream(recorded(), lambda f: f.stamp_ns, process if schedule is None
                                 else schedule.timed(process), dropped, wait):
            f = p.item
            if on_frame is not None:
                on_frame(run)
            done = images.pop(f.index, None)
            if done is None:  # a bad frame
                continue
            image, dets, wall = done
            rec = OutputRecord(f.index, stream_no, f.stamp_ns, p.start_ns, p.finish_ns,
                               p.finish_ns + bag_shift, wall, dets)
            last_bag = rec.bag_ns
            run.outputs.append(rec)
            if on_output is not None:
                on_output(f, image, rec)
    return run


def _stream_wait(schedule, run: ReplayRun, stream_no: int):
    """The simulator's ``wait`` for one stream: the shrinking-tail rule with the period of the
    stream's stamps read so far (the median step, in ns as the simulator's times)."""
    def wait(free_at_ns: int, newest_arrival_ns: int) -> bool:
        stamps = [f.stamp_ns for f in run.frames if f.stream == stream_no][-31:]
        steps = np.diff(np.array(stamps, np.int64))
        steps = steps[steps > 0]
        period = float(np.median(steps)) if steps.size else None
        return schedule.should_wait(free_at_ns - newest_arrival_ns, period)
    return wait


def latest_outputs(run: ReplayRun) -> dict[int, Optional[OutputRecord]]:
    """frame index -> the latest output of its stream finished by the frame's stamp (what the
    vehicle had at that moment), or None."""
    by_stream: dict[int, List[OutputRecord]] = {}
    for o in run.outputs:
        by_stream.setdefault(o.stream, []).append(o)
    finishes = {s: np.array([o.finish_ns for o in outs], np.int64)
                for s, outs in by_stream.items()}
    shown = {}
    for fr in run.frames:
        outs = by_stream.get(fr.stream, [])
        j = int(np.searchsorted(finishes[fr.stream], fr.stamp_ns, side='right')) - 1 \
            if outs else -1
        shown[fr.index] = outs[j] if j >= 0 else None
    return shown
