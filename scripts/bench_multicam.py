"""``make bench`` section 7: K cameras into one batched node vs K single-camera nodes.

K cameras of ``width`` x ``height`` bgr8 at ``rate_hz`` each, their Images handed to the node
cores' subscription callbacks on a fixed schedule (camera k offset by k/K of a period, as
unsynchronised cameras are), in one process:

* **batched**: one ``MultiCameraCore`` (``multi_camera.py``: the ``cameras`` parameter): one
  model, one runtime, the newest frame of each camera run as one batch;
* **per_camera**: the same one node with ``batch_mode`` per_camera: no batch, each frame its own
  single-frame inference as soon as it arrives, on K workers sharing the one model;
* **separate**: K ``NodeCore`` (one per camera, as K ``streamnet_node`` processes would run), each
  with its own detector, runtime and worker thread.

All get the same CPU thread budget: each separate node ``threads`` per inference, the batched
node ``threads`` x min(K, cores) (its one inference does the work of K), the per-camera node
``threads`` per inference on K workers (one per camera, as the separate nodes).

Both serve the same schedule in alternating rounds (the order rotated each round), so load from
other processes hits both alike. Throughput = detections published per second over all cameras
(offered: K x rate); latency = publish minus hand-over of that frame (decode, letterbox, model,
post-processing, message; frames replaced before the worker took them are dropped, not late).
In-process cores share the Python interpreter; the model runs with the GIL released.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np

from bench_common import fmt, md_table, summary_ms

LAYOUTS = ('batched', 'per_camera', 'separate')

# the report's section 7 before its table (scripts/bench.py fills in the braces)
TEXT = """## 7. Many cameras: one node for K cameras vs K single-camera nodes

K cameras, each 1920x1200 bgr8 at 30 Hz, handed to the nodes' subscription callbacks on a fixed
schedule (camera k offset by k/K of a period) in one process (`scripts/bench_multicam.py`), three
layouts side by side, rotated round by round:
**batched** is one node with the `cameras` parameter and `batch_mode` batch: one model and
runtime, the newest frame of each camera runs as one batch (`batch_timeout_ms` 10), {threads} x
min(K, cores) thread(s) for its one inference (the same thread budget as K nodes);
**per-camera** is the same one node with `batch_mode` per_camera (`multi_camera.py`; what `auto`
picks on a CPU): no batch, each camera's newest frame runs alone as soon as it arrives, on the one
shared ONNX Runtime session (`run` is thread-safe; one copy of the weights), one worker per camera
with {threads} thread(s) per inference, each camera's StreamNet history in its own detector, a
camera never on two workers at once; **separate** is K single-camera node cores (K models, K
runtimes, K worker threads, as K `streamnet_node` processes), {threads} thread(s) each. Bundles
exported with `--batch 1,2,4`; onnxruntime CPU; {rounds} round(s) per layout, each waiting for
the frames in flight before the next: {cases}. Frames/s = detections
published per second over all cameras; latency = publish minus hand-over of that frame (frames
replaced before the worker took them are dropped, not counted as late).

Goals at K = 4: issue 21 item 3, the per-camera layout (`auto` on a CPU) serves at least the
separate nodes' frames/s at a p95 no worse; issue 15, the batched layout at least 1.5x their
frames/s at a p95 no worse. The 1.5x goal is a GPU goal (one launch for K frames, one engine and
one copy of the weights instead of K, autoware#7235): `auto` batches on a GPU; the TensorRT path
builds one engine per batch size but is not measured on this machine.

Why `auto` does not batch on a CPU (measured when `batch_mode` was added, with a probe of raw ONNX
Runtime sessions on streamnet_tiny, not committed): a batch of 4 costs about 4 single frames on
this CPU, so there is nothing to gain by waiting for one, and the batch waits for its slowest
member; two intra-op threads cost 2.5-3x at their best on this shared machine (each parallel
region waits at a barrier for a core another process holds), which is what the batched node pays
with min(K, 2) threads; concurrent single-thread calls on one session are the cheapest at the
median. The 10 ms batch wait is small beside these. A first per-camera version with min(K, cores)
workers served fewer frames than the separate nodes: the kernel shares the CPU per runnable
thread, so 4 single-thread nodes get more of it than 2 workers; hence one worker per camera.
That probe and the rule were made at load averages of 8 to 10; the table below is this run's
measurement, and where the two disagree (a batched node ahead of the per-camera one) the table
is what was measured.

![multi-camera bench]({figure})

"""


class _Setup:
    """One layout of K cameras on one bundle: its cores, started and stopped per round."""

    def __init__(self, layout: str, bundle: str, k: int, threads: int):
        from video_perception.backends.base import BackendOptions
        from video_perception.detector import load_detector
        from video_perception.multi_camera import build_multi_core
        from video_perception.node_core import build_core
        self.k, self.published = k, []
        self.lock = threading.Lock()
        # the same thread budget for both: K nodes run K inferences at once, so the one
        # batched inference gets K times the threads (at most the machine's cores)
        # (per_camera: K workers of ``threads`` each, multi_camera's own rule)
        budget = min(k, os.cpu_count() or 1) if layout == 'batched' else 1

        def load():
            det = load_detector(bundle, 'onnxruntime',
                                BackendOptions(device='cpu', threads=threads * budget),
                                log=lambda _: None, warmup=False)
            # warm (ORT's lazy init) only the batch sizes this layout runs: the others run
            # batch 1 alone, and a large model's batch-4 warm-up per separate node takes minutes
            for size in (det.bundle.batch_sizes if layout == 'batched' else (1,)):
                for role in det.bundle.graphs:
                    det.backend._run(role, det.backend.zero_inputs(role, size))
            return det
        if layout != 'separate':
            mode = 'batch' if layout == 'batched' else 'per_camera'
            core = build_multi_core('bench', load(), [f'cam{i}' for i in range(k)],
                                    lambda i, d, header, f: self._sent(header),
                                    {'batch_mode': mode}, log_warning=lambda _: None)
            self.cores = [core]
            self.feed = [core.callback(i) for i in range(k)]
        else:
            self.cores = [build_core(f'bench{i}', load(), lambda d, header, f: self._sent(header),
                                     log_warning=lambda _: None) for i in range(k)]
            self.feed = [core.on_image for core in self.cores]
        self.stages: List[Tuple[float, float]] = []
        for core in self.cores:
            core.process = self._timed(core.process)

    def _timed(self, process):
        """``process`` of a core, recording (queue wait, processing) in seconds per frame: wait
        = hand-over to the worker taking the frame (a batch: to the batch leaving), processing =
        decode, letterbox, model, decoding and publish of its batch."""
        def timed(*args):
            t0 = time.monotonic()
            recv = [args[1]] if len(args) == 2 else [item[2] for item in args[0]]
            try:
                return process(*args)
            finally:
                t1 = time.monotonic()
                with self.lock:
                    self.stages += [(t0 - t_recv, t1 - t0) for t_recv in recv]
        return timed

    def _sent(self, header) -> None:
        with self.lock:
            self.published.append((header.stamp.sec * 10 ** 9 + header.stamp.nanosec,
                                   time.perf_counter()))

    def run(self, messages: Sequence, rate_hz: float, seconds: float,
            first_ns: int) -> Tuple[Dict[int, float], List[Tuple[int, float]]]:
        """Feed the schedule for ``seconds``; (stamp -> hand-over time, published)."""
        from video_perception import msgs
        period = 1.0 / rate_hz
        events = sorted((i * period + cam * period / self.k, cam, i)
                        for i in range(int(seconds * rate_hz)) for cam in range(self.k))
        handed: Dict[int, float] = {}
        self.published, self.stages = [], []
        for core in self.cores:
            core.start()
        t0 = time.perf_counter()
        for at, cam, i in events:
            delay = t0 + at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            stamp = first_ns + int(i * period * 1e9) + cam     # unique per camera and frame
            src = messages[cam]
            msg = msgs.Image(header=msgs.Header(stamp=msgs.Time.from_ns(stamp),
                                                frame_id=f'cam{cam}'),
                             height=src.height, width=src.width, encoding=src.encoding,
                             is_bigendian=0, step=src.step, data=src.data)
            handed[stamp] = time.perf_counter()
            self.feed[cam](msg)
        time.sleep(min(1.0, 3 * period))                       # the last batch finishes
        for core in self.cores:
            core.stop(120.0)            # a frame in flight (S: seconds) ends before the next round
        return handed, list(self.published), list(self.stages)


def bench_multicam(cases: Sequence[tuple], ks: Sequence[int] = (1, 2, 4),
                   rate_hz: float = 30.0, seconds: float = 4.0, rounds: int = 3,
                   threads: int = 1, width: int = 1920, height: int = 1200,
                   plot: str = '') -> Tuple[str, dict]:
    """``cases``: (label, bundle exported with batch sizes covering ``ks``), or (label,
    bundle, its own ks[, its own seconds per round]). Returns the markdown table and the
    numbers (key 'LABEL/K=k/LAYOUT'); ``plot``: also draw them into this PNG."""
    from video_perception.node_runner import image_to_msg
    from video_perception import msgs
    rng = np.random.default_rng(0)
    messages = [image_to_msg(rng.integers(0, 256, (height, width, 3), np.uint8),
                             msgs.Header(), 'bgr')
                for _ in range(max(max(c[2] if len(c) > 2 else ks) for c in cases))]
    data, rows = {}, []
    for case in cases:
        label, bundle = case[:2]
        secs = case[3] if len(case) > 3 else seconds
        for k in (case[2] if len(case) > 2 else ks):
            setups = {layout: _Setup(layout, bundle, k, threads) for layout in LAYOUTS}
            lat = {layout: [] for layout in LAYOUTS}
            stages = {layout: [] for layout in LAYOUTS}
            served = {layout: 0 for layout in LAYOUTS}
            first_ns = 10 ** 9
            for r in range(rounds):
                for layout in LAYOUTS[r % 3:] + LAYOUTS[:r % 3]:    # rotated each round
                    handed, published, timed = setups[layout].run(messages[:k], rate_hz, secs,
                                                                  first_ns)
                    stages[layout] += timed
                    first_ns += int((secs + 10) * 1e9)      # stamps move on: no reset
                    # this round's frames only: a frame left from an earlier round is not
                    # this round's throughput
                    served[layout] += sum(1 for s, _ in published if s in handed)
                    lat[layout] += [t - handed[s] for s, t in published if s in handed]
            for layout in LAYOUTS:
                s = summary_ms(lat[layout])
                fps = served[layout] / (rounds * secs)
                wait = summary_ms([w for w, _ in stages[layout]])
                work = summary_ms([p for _, p in stages[layout]])
                data[f'{label}/K={k}/{layout}'] = dict(
                    s, fps=fps, offered=k * rate_hz, wait_median=wait['median'],
                    wait_p95=wait['p95'], process_median=work['median'], process_p95=work['p95'])
            b, pc, sep = (data[f'{label}/K={k}/{layout}'] for layout in LAYOUTS)
            rows.append([label, k, f'{k * rate_hz:g}', fmt(b['fps']), fmt(pc['fps']),
                         fmt(sep['fps']),
                         fmt(b['fps'] / sep['fps'], 2) if sep['fps'] else 'n/a',
                         fmt(pc['fps'] / sep['fps'], 2) if sep['fps'] else 'n/a',
                         fmt(b['median']), fmt(pc['median']), fmt(sep['median']),
                         fmt(b['p95']), fmt(pc['p95']), fmt(sep['p95'])])
    headers = ['model', 'K cameras', 'offered frames/s', 'batched frames/s',
               'per-camera frames/s', 'separate frames/s', 'batched / separate',
               'per-camera / separate', 'batched median ms', 'per-camera median ms',
               'separate median ms', 'batched p95 ms', 'per-camera p95 ms', 'separate p95 ms']
    if plot:
        _plot(data, [c[0] for c in cases], plot)
    return md_table(headers, rows) + '\n\n' + where_time_goes(data), data


def where_time_goes(data: dict) -> str:
    """The latency of each layout at each model's largest K, split into the queue wait (hand-over
    to the worker taking the frame) and the processing of its frame or batch."""
    rows = []
    for label in dict.fromkeys(key.split('/K=')[0] for key in data):
        k = max(int(key.split('/K=')[1].split('/')[0]) for key in data
                if key.startswith(label + '/K='))
        for layout in LAYOUTS:
            d = data[f'{label}/K={k}/{layout}']
            rows.append([label, k, layout, fmt(d['fps']), fmt(d['median']), fmt(d['p95']),
                         fmt(d['wait_median']), fmt(d['wait_p95']), fmt(d['process_median']),
                         fmt(d['process_p95'])])
    return ('Where the time goes (the same rounds, each model at its largest K): latency is the '
            'queue wait (hand-over to the worker taking the frame) plus the processing of its '
            'frame or batch (decode, letterbox, model, decoding, publish; a batch publishes its '
            'frames one by one within it, and counts once per frame).\n\n'
            + md_table(['model', 'K', 'layout', 'frames/s', 'latency median ms',
                        'latency p95 ms', 'wait median ms', 'wait p95 ms',
                        'processing median ms', 'processing p95 ms'], rows))


def _plot(data: dict, labels: List[str], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))

    def ks_of(label):
        return sorted({int(key.split('/K=')[1].split('/')[0]) for key in data
                       if key.startswith(label + '/K=')})

    for label in labels:
        ks = ks_of(label)
        for layout, style in zip(LAYOUTS, ('-o', '-.^', '--s')):
            rows = [data[f'{label}/K={k}/{layout}'] for k in ks]
            axes[0].plot(ks, [r['fps'] for r in rows], style, label=f'{label} {layout}')
            axes[1].plot(ks, [r['p95'] for r in rows], style, label=f'{label} {layout}')
    every = sorted({k for label in labels for k in ks_of(label)})
    offered = {k: v['offered'] for label in labels for k in ks_of(label)
               for v in [data[f'{label}/K={k}/batched']]}
    axes[0].plot(every, [offered[k] for k in every], ':k', label='offered')
    axes[0].set(xlabel='cameras K', ylabel='frames/s served', xticks=every, yscale='log')
    axes[1].set(xlabel='cameras K', ylabel='latency p95 (ms)', xticks=every, yscale='log')
    axes[0].legend(fontsize=7)
    fig.suptitle('batched / per-camera node vs K single-camera nodes (onnxruntime CPU, 1920x1200)')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
