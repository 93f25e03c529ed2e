"""Node benchmarks for ``scripts/bench.py``: the node's own cost per frame at 1920x1200 (message in
to message out, model time subtracted), the feature buffer's cost, and end to end over DDS."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Dict, List, Tuple

import numpy as np

from bench_common import fmt, md_table, measure_interleaved, summary_ms

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def camera_frame(width: int = 1920, height: int = 1200, seed: int = 0) -> np.ndarray:
    """A [h, w, 3] uint8 BGR frame: smooth gradients plus noise (a stand-in camera image)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 // width, ys * 255 // height, (xs + ys) * 255 // (width + height)],
                    axis=2)
    return np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)


def _node_path(bundle_path: str, backend: str, threads: int, payload: bytes,
               score_threshold: float):
    """The whole path (NodeCore.process, ``node_bench.NodePath``) and each of its stages."""
    from video_perception.backends.base import BackendOptions
    from video_perception.detector import load_detector
    from video_perception.node_bench import NodePath
    det = load_detector(bundle_path, backend, BackendOptions(device='cpu', threads=threads),
                        log=lambda _: None)
    path = NodePath(det, payload, {'score_threshold': score_threshold})
    stages = path.stages()
    return det, path.whole, stages, len(stages['postprocess (decode, NMS)']())


# Random weights score about 1e-4: at the default threshold nothing passes (a lower bound on
# post-processing and messages); at 0 every anchor / query reaches NMS and max_detections boxes
# are published (an upper bound). A trained model lies between the two.
CASES = (('default threshold 0.3', 0.3), ('threshold 0: all candidates', 0.0))


def bench_node_overhead(bundles: Dict[str, str], backend: str, threads: int, reps: int,
                        width: int = 1920, height: int = 1200) -> Tuple[str, dict]:
    """Section 5a: NodeCore.process on CDR bytes at WxH, model time subtracted, and its stages."""
    from video_perception.node_bench import image_bytes
    payload = image_bytes(camera_frame(width, height))
    rows, data = [], {}
    for label, path in bundles.items():
        for case, threshold in CASES:
            det, whole, stages, n_dets = _node_path(path, backend, threads, payload, threshold)
            variants = {'message in -> message out, minus model time': whole, **stages}
            times = measure_interleaved(variants, reps, warmup=2, desc=f'node {label}')
            case_label = f'{case} ({n_dets} boxes out)'
            stage_sum = 0.0
            for name, t in times.items():
                s = summary_ms(t)
                data[f'{label}/{case}/{name}'] = s
                if name in stages:
                    stage_sum += s['median']
                rows.append([label, case_label, name, fmt(s['median'], 2), fmt(s['p95'], 2),
                             s['n']])
            rows.append([label, case_label, 'sum of the stage medians', fmt(stage_sum, 2), '',
                         ''])
            data[f'{label}/{case}/stage_sum'] = stage_sum
            data[f'{label}/{case}/detections'] = n_dets
            det.close()
    headers = ['bundle', 'case', f'step ({width}x{height} bgr8 in)', 'median ms', 'p95 ms', 'n']
    return md_table(headers, rows), data


def bench_buffer(cases: List[Tuple[str, int, int]], reps: int) -> Tuple[str, dict]:
    """Section 5b: the feature buffer's per-frame work (history views + push copy), N=3."""
    from training.models.streamnet import zoo
    from video_perception.feature_buffer import FeatureBuffer
    rows, data, variants, sizes = [], {}, {}, {}
    for name, h, w in cases:
        model = zoo.MODELS[name]()
        cfg = model.cfg
        shapes = dict(model.buffered_feature_specs(h, w))
        del model
        buf = FeatureBuffer(shapes, cfg.history_frames, cfg.history_step)
        feats = {n: np.random.default_rng(0).random(s, np.float32) for n, s in shapes.items()}
        buf.prime(feats)

        def step(buf=buf, feats=feats):
            buf.history_inputs()
            buf.push(feats)
        variants[name] = step
        sizes[name] = (f'{h}x{w}', sum(a.nbytes for a in feats.values()), buf.nbytes())
    times = measure_interleaved(variants, reps, warmup=5, desc='feature buffer')
    for name, t in times.items():
        s = summary_ms(t)
        size, per_frame, total = sizes[name]
        data[name] = dict(s, frame_bytes=per_frame, buffer_bytes=total)
        rows.append([name, size, f'{per_frame / 2 ** 20:.2f}', f'{total / 2 ** 20:.2f}',
                     fmt(s['median'] * 1000, 1), fmt(s['p95'] * 1000, 1), s['n']])
    headers = ['model', 'input HxW', 'features per frame MiB', 'buffer MiB',
               'median us / frame', 'p95 us / frame', 'n']
    return md_table(headers, rows), data


def bench_dds(bundle_path: str, backend: str, threads: int, frames: int, rate_hz: float,
              width: int = 1920, height: int = 1200, timeout_s: float = 60.0) -> Tuple[str, dict]:
    """Section 5c: streamnet_node in its own process over DDS on loopback; latency = detection
    received minus Image published (same clock, same machine), model time from /diagnostics."""
    from video_perception import msgs
    from video_perception.node_runner import image_to_msg
    from video_perception.transport.base import QOS_DEFAULT
    from video_perception.transport.dds_transport import DdsTransport
    domain = str(100 + os.getpid() % 100)
    env = dict(os.environ, ROS_DOMAIN_ID=domain, VIDEO_PERCEPTION_TRANSPORT='dds',
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    os.environ.update(ROS_DOMAIN_ID=domain, ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    node_bin = os.path.join(os.path.dirname(sys.executable), 'streamnet_node')
    proc = subprocess.Popen([node_bin, '--ros-args', '-p', f'model_path:={bundle_path}', '-p',
                             f'backend:={backend}', '-p', f'threads:={threads}', '-p',
                             'reliability:=reliable', '-r', 'image:=/bench/image'], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    t = DdsTransport('bench_client', [])
    sent: Dict[int, float] = {}
    got: Dict[int, float] = {}
    diag: List[dict] = []
    lock = threading.Lock()

    def on_det(m):
        with lock:
            got[m.header.stamp.sec * 10 ** 9 + m.header.stamp.nanosec] = time.perf_counter()

    def on_diag(m):
        for st in m.status:
            diag.append({kv.key: kv.value for kv in st.values})
    try:
        t.create_subscription(msgs.Detection2DArray, '/detections', on_det, QOS_DEFAULT)
        t.create_subscription(msgs.DiagnosticArray, '/diagnostics', on_diag, QOS_DEFAULT)
        pub = t.create_publisher(msgs.Image, '/bench/image', QOS_DEFAULT)
        if not pub.wait_for_subscribers(1, timeout=timeout_s):
            raise RuntimeError('streamnet_node did not subscribe to /bench/image in '
                               f'{timeout_s:.0f} s: {proc.stderr.read() if proc.poll() else ""}')
        frame = camera_frame(width, height)
        time.sleep(1.0)
        for i in range(frames):
            ns = (i + 1) * 10 ** 9 // 30
            msg = image_to_msg(frame, msgs.Header(stamp=msgs.Time.from_ns(ns),
                                                  frame_id='camera'), 'bgr')
            sent[ns] = time.perf_counter()
            pub.publish(msg)
            time.sleep(1.0 / rate_hz)
        deadline = time.monotonic() + 10.0
        while len(got) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.2)   # one more diagnostics message after the last frame
    finally:
        t.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
    lat = [got[k] - sent[k] for k in sent if k in got][1:]   # the first frame primes the buffer
    s = summary_ms(lat)
    last = diag[-1] if diag else {}
    model = float(last.get('model_ms_median', 'nan'))
    data = dict(s, model_ms_median=model, sent=len(sent), received=len(got),
                dropped=last.get('frames_dropped'))
    rows = [[f'{width}x{height} bgr8, {rate_hz:g} Hz', len(sent), len(got),
             last.get('frames_dropped', 'n/a'), fmt(s['median'], 1), fmt(s['p95'], 1),
             fmt(model, 1), fmt(s['median'] - model, 1)]]
    headers = ['input', 'sent', 'received', 'dropped (node)', 'end-to-end median ms',
               'end-to-end p95 ms', 'node model median ms (/diagnostics)',
               'end-to-end minus model ms']
    return md_table(headers, rows), data
