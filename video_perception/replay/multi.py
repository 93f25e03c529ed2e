"""Several cameras through one batched detector, as the multi-camera node serves them.

The schedule of ``multi_camera.MultiCameraCore`` with no batch timeout, on the input's clock:

* every camera's frames arrive at their header stamps (one clock for all cameras; a camera's
  stamps must not go back);
* when the detector is free it starts a batch at ``max(free, next arrival)``; the batch takes
  the **newest** frame of every camera that has one waiting by then (a frame arriving exactly at
  the start counts as arrived); a camera's older waiting frames are dropped, counted per camera;
* the batch runs once (``detector.CameraBatch``: one state per camera, one backend call); its
  latency (``LatencyModel`` of the batch's wall time) applies to every camera in it:
  ``finish = start + latency`` for all of them.

Each camera gets its own ``ReplayRun`` (one stream), so the single-camera results, scoring and
summary code serve it unchanged.
"""
from __future__ import annotations

import dataclasses
import heapq
import time
from typing import Callable, Iterable, List, Optional, Sequence

import numpy as np

from video_perception.detector import CameraBatch
from video_perception.image_codec import ImageDecodeError
from video_perception.replay.engine import FrameRecord, LatencyModel, OutputRecord, ReplayRun
from video_perception.sources import SourceFrame


@dataclasses.dataclass
class BatchRecord:
    """One detector call: (camera, frame index) of each member, in camera order; ns times."""

    members: List[tuple]
    start_ns: int
    finish_ns: int
    wall_s: float


@dataclasses.dataclass
class MultiReplayRun:
    cameras: List[str]
    runs: List[ReplayRun]
    batches: List[BatchRecord]


def _merged(cameras: Sequence[Iterable[SourceFrame]], names: Sequence[str]):
    """(stamp_ns, camera, frame) of all cameras in arrival order (ties: camera order)."""
    def one(c, frames):
        last = None
        for f in frames:
            if last is not None and f.stamp_ns < last:
                raise ValueError(f'camera {names[c]}: frame {f.index} stamp {f.stamp_ns} ns is '
                                 f'before the previous one ({last} ns); expected one stream in '
                                 'time order per camera')
            last = f.stamp_ns
            yield f.stamp_ns, c, f.index, f
    return heapq.merge(*(one(c, fr) for c, fr in enumerate(cameras)), key=lambda t: t[:3])


def batch_schedule(cameras: Sequence[Iterable[SourceFrame]], names: Sequence[str],
                   run: Callable[[List[SourceFrame], List[int]], float],
                   on_drop: Optional[Callable[[int, SourceFrame], None]] = None,
                   on_arrival: Optional[Callable[[int, SourceFrame], None]] = None):
    """Yields (cameras, frames, start_ns, finish_ns) of every batch, lazily.

    ``run(frames, cameras)`` processes a batch and returns its latency in integer ns (>= 0);
    ``on_drop(camera, frame)`` gets each overtaken frame, ``on_arrival`` every frame.
    """
    it = _merged(cameras, names)
    nxt = next(it, None)
    pending: dict = {}
    free_ns = None
    while nxt is not None or pending:
        start = nxt[0] if not pending else min(f.stamp_ns for f in pending.values())
        start = start if free_ns is None else max(start, free_ns)
        while nxt is not None and nxt[0] <= start:     # everything arrived by the start
            _, c, _, f = nxt
            if on_arrival is not None:
                on_arrival(c, f)
            if c in pending and on_drop is not None:
                on_drop(c, pending[c])
            pending[c] = f
            nxt = next(it, None)
        cams = sorted(pending)
        frames = [pending.pop(c) for c in cams]
        latency = int(run(frames, cams))
        if latency < 0:
            raise ValueError(f'replay: latency {latency} ns; expected a value >= 0')
        free_ns = start + latency
        yield cams, frames, start, free_ns


def run_multi_replay(cameras: Sequence[Iterable[SourceFrame]], names: Sequence[str],
                     batch: CameraBatch, latency: LatencyModel, pixel_format: str = 'bgr',
                     on_output: Optional[Callable[[int, SourceFrame, np.ndarray, OutputRecord],
                                                  None]] = None,
                     on_frame: Optional[Callable[[MultiReplayRun], None]] = None
                     ) -> MultiReplayRun:
    """Replays camera c's ``cameras[c]`` frames through ``batch`` (one detector state each).

    Args:
        pixel_format: the detector's input order ('bgr' or 'rgb'); frames load as BGR.
        on_output: called with (camera, frame, image the detector saw, record) in finish order.
        on_frame: called once per frame consumed; progress.
    A frame that fails to decode counts as bad for its camera and leaves the batch.
    """
    out = MultiReplayRun(list(names), [ReplayRun([], [], streams=1) for _ in names], [])
    seen = {}

    def arrived(c: int, f: SourceFrame) -> None:
        out.runs[c].frames.append(FrameRecord(f.index, f.stamp_ns, 0, f.image_id))

    def dropped(c: int, f: SourceFrame) -> None:
        out.runs[c].dropped += 1
        if on_frame is not None:
            on_frame(out)

    def process(frames: List[SourceFrame], cams: List[int]) -> int:
        good, images = [], []
        for c, f in zip(cams, frames):
            try:
                image = f.load()
            except ImageDecodeError:
                out.runs[c].bad += 1
                continue
            if pixel_format == 'rgb':
                image = np.ascontiguousarray(image[..., ::-1])
            good.append((c, f))
            images.append(image)
        if not good:
            seen['done'] = []
            return 0
        t0 = time.perf_counter()
        dets = batch.detect([c for c, _ in good], images, [f.stamp_ns for _, f in good])
        wall = time.perf_counter() - t0
        seen['done'] = [(c, f, image, d) for (c, f), image, d in zip(good, images, dets)]
        seen['wall'] = wall
        return latency.latency_ns(wall)

    for cams, frames, start_ns, finish_ns in batch_schedule(cameras, names, process, dropped,
                                                            arrived):
        done = seen.pop('done')
        wall = seen.pop('wall', 0.0)
        if on_frame is not None:
            for _ in frames:
                on_frame(out)
        if not done:
            continue
        out.batches.append(BatchRecord([(c, f.index) for c, f, _, _ in done], start_ns,
                                       finish_ns, wall))
        for c, f, image, dets in done:
            rec = OutputRecord(f.index, 0, f.stamp_ns, start_ns, finish_ns, finish_ns, wall,
                               dets)
            out.runs[c].outputs.append(rec)
            if on_output is not None:
                on_output(c, f, image, rec)
    return out


def camera_names(topics: Sequence[str]) -> List[str]:
    """Folder names of the cameras: the topic without slashes ('/cam_a/image' -> cam_a_image)."""
    names = [t.strip('/').replace('/', '_') or 'camera' for t in topics]
    from video_perception import validate
    validate.distinct('--cameras', topics, error=ValueError)   # the nodes' rule for cameras
    if len(set(names)) != len(names):
        raise ValueError(f"--cameras {','.join(topics)}: two topics give the same folder name")
    return names
