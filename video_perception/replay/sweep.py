"""A latency sweep: one source replayed at several speeds (``replay --speed 0.5,1,2,4,8``).

Speed is the sAP toolkit's ``perf_factor``: every runtime is divided by it (``latency_model``),
so speed 2 is hardware twice as fast, 0.5 twice as slow.

Which frames a detector processes depends on its latency (it takes the newest frame when it is
free), so each speed has its own schedule. What the detector outputs for a frame depends on
timing only through that schedule:

* a detector without history (V2I, StreamNet with N = 0: ``bundle.history_frames == 0``) gives
  a frame the same output whatever it processed before. It runs once, on every frame, at zero
  latency (``ceiling``: also the offline AP when every frame is processed); each speed then
  re-schedules those recorded outputs and wall times (``reschedule``) without running it again;
* a detector with history (StreamNet's feature buffer) fuses the frames it processed before, and
  those differ per speed, so it runs again for every speed, from a reset state.

With a Streamer (``replay --forecast kalman``, ``--schedule shrinking-tail``) every speed is
replayed a second time under the Streamer's schedule (``streamer_runs``); its forecasts are made
when the runs are scored.

Both paths draw a sampled latency in the same order (one draw per processed frame), so the
result does not depend on which path a detector takes.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Iterable, List, Optional

import numpy as np

from video_perception.replay.engine import LatencyModel, ReplayRun, run_replay
from video_perception.replay.latency_model import with_speed
from video_perception.replay.simulate import schedule
from video_perception.sources import SourceFrame


@dataclasses.dataclass
class Sweep:
    """ceiling: every frame at zero latency; runs: speed -> its run; rerun: whether the
    detector ran again per speed (it has history) or its recorded outputs were re-scheduled."""

    ceiling: ReplayRun
    runs: dict[float, ReplayRun]
    rerun: bool
    streamer_runs: dict = dataclasses.field(default_factory=dict)


def has_history(detector) -> bool:
    """Whether a frame's output depends on the frames processed before it."""
    bundle = getattr(detector, 'bundle', None)
    return int(getattr(bundle, 'history_frames', 0) or 0) > 0


def reschedule(recorded: ReplayRun, latency: LatencyModel, tail=None) -> ReplayRun:
    """The run a history-free detector makes under ``latency``, from its zero-latency run.

    Every frame ``recorded`` processed has its output and wall time; a frame it has no output
    for was bad (no time spent, as in the engine) or shared its stamp with a newer frame (then
    it is dropped under any latency). ``bag_ns`` is the finish time (no bag is written).
    ``tail``: a ``streaming.schedule.ShrinkingTail`` scheduling the detector."""
    done = {o.index: o for o in recorded.outputs}
    run = ReplayRun(list(recorded.frames), [], bad=recorded.bad, streams=recorded.streams)
    for _, group in itertools.groupby(recorded.frames, key=lambda f: f.stream):
        frames = list(group)

        def runtime(j: int, frames=frames) -> int:
            out = done.get(frames[j].index)
            return 0 if out is None else latency.latency_ns(out.wall_s)
        wait = None
        if tail is not None:
            steps = np.diff(np.array([f.stamp_ns for f in frames], np.int64))
            steps = steps[steps > 0]
            period = float(np.median(steps)) if steps.size else None
            runtime = tail.timed(runtime)
            wait = (lambda free_at, newest, period=period:
                    tail.should_wait(free_at - newest, period))
        runs, dropped = schedule([f.stamp_ns for f in frames], runtime, wait)
        run.dropped += len(dropped)
        for p in runs:
            out = done.get(frames[p.item].index)
            if out is None:
                continue
            run.outputs.append(dataclasses.replace(out, start_ns=p.start_ns,
                                                   finish_ns=p.finish_ns, bag_ns=p.finish_ns))
    return run


def run_sweep(frames: Callable[[], Iterable[SourceFrame]], detector, latency: LatencyModel,
              speeds: List[float], pixel_format: str = 'bgr',
              on_frame: Optional[Callable[[ReplayRun], None]] = None,
              streamer_schedule: Optional[Callable[[], object]] = None) -> Sweep:
    """Replays ``frames()`` (a fresh iterator per call) at each speed of ``speeds``;
    ``streamer_schedule``: with a Streamer, makes each speed's schedule for its second run (a
    ``ShrinkingTail``)."""
    rerun = has_history(detector)
    ceiling = run_replay(frames(), detector, LatencyModel(0.0), pixel_format, None, on_frame)
    runs = {}
    for speed in speeds:
        model = with_speed(latency, speed)
        if rerun:
            detector.reset()  # each speed starts as the vehicle does, with no history
            runs[speed] = run_replay(frames(), detector, model, pixel_format, None, on_frame)
        else:
            runs[speed] = reschedule(ceiling, model)
    streamer = {}
    for speed in speeds if streamer_schedule is not None else ():
        model, tail = with_speed(latency, speed), streamer_schedule()
        if rerun:
            detector.reset()
            streamer[speed] = run_replay(frames(), detector, model, pixel_format, None,
                                         on_frame, tail)
        else:
            streamer[speed] = reschedule(ceiling, model, tail)
    return Sweep(ceiling, runs, rerun, streamer)
