"""What the node adds around the model, measured in one process (for ``make bench``).

Per frame, as on the robot: the Image arrives as CDR bytes (deserialise), the node core decodes
it, the detector letterboxes, runs the graphs and decodes, the node builds the Detection2DArray
and serialises it. ``overhead_ms`` = that whole path minus the time spent inside the graphs
(``model_ms``, which includes ``simulate_latency_ms``); ``buffer_ms`` = the StreamNet feature
buffer's read + push for the bundle's real feature shapes. DDS transmission itself is not
included (it depends on the network); test_node_e2e_dds.py measures it end to end.
"""
from __future__ import annotations

import time
from typing import Dict, Optional

import numpy as np

from video_perception import msgs
from video_perception.backends.base import BackendOptions
from video_perception.feature_buffer import FeatureBuffer


def _frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, 3), np.uint8)     # [H, W, 3] BGR


def bench_node(model_path: str, backend: str = 'onnxruntime', width: int = 1920,
               height: int = 1200, frames: int = 30, warmup: int = 3,
               options: Optional[BackendOptions] = None,
               simulate_latency_ms: float = 0.0) -> Dict[str, float]:
    """Median per-frame milliseconds: ``total_ms``, ``model_ms``, ``overhead_ms``, ``buffer_ms``.

    Args:
        model_path: a bundle folder; backend: as the node parameter.
        width, height: camera image size (1920x1200: Argoverse's front camera).
        frames: timed frames after ``warmup`` untimed ones.
    """
    from video_perception.detector import StreamNetDetector, load_detector
    from video_perception.node_core import NodeCore, parameter_specs
    from video_perception.ros_convert import detections_to_msg
    from video_perception.transport import cdr
    from video_perception import image_codec

    det = load_detector(model_path, backend, options or BackendOptions(), log=lambda s: None,
                        simulate_latency_ms=simulate_latency_ms)
    family = 'streamnet' if isinstance(det, StreamNetDetector) else 'v2i'
    params = {s.name: s.default for s in parameter_specs(family)}
    params['simulate_latency_ms'] = simulate_latency_ms     # the core applies live parameters
    order = det.bundle.pixel_format
    sent = []
    core = NodeCore('bench', params, det, lambda m: image_codec.decode_image_msg(m, order),
                    lambda d, header, frame: sent.append(cdr.serialize(
                        detections_to_msg(d, header))))
    frame = _frame(width, height)
    totals, models = [], []
    period = 33_333_333
    for i in range(warmup + frames):
        sec, nsec = divmod(i * period, 1_000_000_000)
        msg = msgs.Image(header=msgs.Header(stamp=msgs.Time(sec=sec, nanosec=nsec),
                                            frame_id='camera'),
                         height=height, width=width, encoding='bgr8', step=width * 3,
                         data=frame.tobytes())
        wire = cdr.serialize(msg)
        t0 = time.perf_counter()
        core.process(cdr.deserialize(wire, msgs.Image), time.monotonic())
        total = (time.perf_counter() - t0) * 1000.0
        if i >= warmup:
            totals.append(total)
            models.append(det.model_ms)
    out = {'total_ms': float(np.median(totals)), 'model_ms': float(np.median(models)),
           'overhead_ms': float(np.median(np.subtract(totals, models))),
           'frames': float(frames), 'width': float(width), 'height': float(height)}
    if family == 'streamnet':
        out['buffer_ms'] = bench_buffer({f.name: f.shape for f in det.bundle.features},
                                        det.bundle.history_frames, det.bundle.history_step)
    det.close()
    return out


def bench_buffer(shapes: Dict[str, tuple], frames: int, step: int = 1,
                 iterations: int = 200) -> float:
    """Median ms of one history read + one push (what the node pays per frame for the buffer)."""
    buf = FeatureBuffer(shapes, frames, step)
    feats = {n: np.random.default_rng(0).random(s, dtype=np.float32) for n, s in shapes.items()}
    buf.prime(feats)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        inputs = buf.history_inputs()
        buf.push(feats)
        times.append((time.perf_counter() - t0) * 1000.0)
    del inputs
    return float(np.median(times))
