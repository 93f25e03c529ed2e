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


def image_bytes(frame: np.ndarray, stamp_ns: int = 0) -> bytes:
    """sensor_msgs/Image (bgr8) of ``frame`` as CDR bytes: what the transport hands the node."""
    from video_perception import msgs
    from video_perception.node_runner import image_to_msg
    from video_perception.transport import cdr
    header = msgs.Header(stamp=msgs.Time.from_ns(stamp_ns), frame_id='camera')
    return cdr.serialize(image_to_msg(frame, header, 'bgr'))


def _node_path(bundle_path: str, backend: str, threads: int, payload: bytes,
               score_threshold: float):
    """Callables for the whole path (NodeCore.process) and each of its stages on one frame."""
    from video_perception import image_codec, msgs, postprocess
    from video_perception.backends.base import BackendOptions
    from video_perception.detector import load_detector
    from video_perception.letterbox import preprocess
    from video_perception.node_core import NodeCore, parameter_specs
    from video_perception.ros_convert import detections_to_msg
    from video_perception.transport import cdr

    det = load_detector(bundle_path, backend, BackendOptions(device='cpu', threads=threads),
                        log=lambda _: None)
    family, order = det.bundle.family, det.bundle.pixel_format
    params = {s.name: s.default for s in parameter_specs(family)}
    params['score_threshold'] = score_threshold
    sent: List[bytes] = []

    def publish(dets, header, _frame):
        sent.append(cdr.serialize(detections_to_msg(dets, header)))

    core = NodeCore('bench', params, det, lambda m: image_codec.decode_image_msg(m, order),
                    publish, log_warning=lambda _: None)
    stamp = {'ns': 0}

    def whole() -> float:
        # what the DDS callback receives (bytes) -> what the DDS writer sends (bytes)
        stamp['ns'] += 33_000_000
        t0 = time.perf_counter()
        msg = cdr.deserialize(payload, msgs.Image)
        msg.header.stamp = msgs.Time.from_ns(stamp['ns'])
        if not core.process(msg, time.monotonic()):
            raise RuntimeError(f'node path failed: {core.last_error}')
        return time.perf_counter() - t0 - det.model_ms / 1000.0

    # the stages, each on its own input, to show where the time goes
    msg = cdr.deserialize(payload, msgs.Image)
    frame = image_codec.decode_image_msg(msg, order)
    tensor, transform = preprocess(frame, det.bundle)
    if family == 'streamnet':
        feats = det.backend.run('encoder', {'image': tensor})
        history = {f'{k}_h{i}': v for i in range(1, det.bundle.history_frames + 1)
                   for k, v in feats.items()}
        raw = det.backend.run('forecast', {**feats, **history})
        post = lambda: postprocess.decode_yolox(raw['predictions'][0], det.score_threshold,  # noqa
                                                det.nms_iou, det.max_detections, transform)
    else:
        raw = det.backend.run('student', {'image': tensor})
        decode = (postprocess.decode_detr_softmax if det.bundle.output_kind == 'detr_softmax'
                  else postprocess.decode_detr_sigmoid)
        post = lambda: decode(raw['pred_logits'][0], raw['pred_boxes'][0],  # noqa: E731
                              det.bundle.width, det.bundle.height, det.score_threshold,
                              det.max_detections, transform=transform)
    dets = post()
    out_msg = detections_to_msg(dets, msg.header)
    stages = {
        'deserialise Image (CDR -> msg)': lambda: cdr.deserialize(payload, msgs.Image),
        'decode to BGR': lambda: image_codec.decode_image_msg(msg, order),
        'letterbox + normalise': lambda: preprocess(frame, det.bundle),
        'postprocess (decode, NMS)': post,
        'build Detection2DArray': lambda: detections_to_msg(dets, msg.header),
        'serialise Detection2DArray': lambda: cdr.serialize(out_msg),
    }
    return det, whole, stages, len(dets)


# Random weights score about 1e-4: at the default threshold nothing passes (a lower bound on
# post-processing and messages); at 0 every anchor / query reaches NMS and max_detections boxes
# are published (an upper bound). A trained model lies between the two.
CASES = (('default threshold 0.3', 0.3), ('threshold 0: all candidates', 0.0))


def bench_node_overhead(bundles: Dict[str, str], backend: str, threads: int, reps: int,
                        width: int = 1920, height: int = 1200) -> Tuple[str, dict]:
    """Section 5a: NodeCore.process on CDR bytes at WxH, model time subtracted, and its stages."""
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
