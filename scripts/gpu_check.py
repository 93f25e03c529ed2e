"""``make gpu-check``: what this project does on a CUDA GPU, measured in one run (< 8 min, H100).

1. torch CUDA latency per frame (encoder + forecast for StreamNet, the student for V2I), random
   weights: fp32, fp16 (``model.half()``), and fp16 replayed as one CUDA graph, for StreamNet-S
   at 600x960, StreamNet-L at 1200x1920, DETR R50 and Deformable DETR R50 at 512x512. CUDA events
   around each call, warm-up first, medians of ``--reps``.
2. the node path on the ``torch`` backend with device ``auto`` (= torch-cuda where torch sees a
   GPU; backends/torch_backend.py): ``video-perception replay`` of a recorded synthetic clip
   (rosbag2) through the shipped tiny StreamNet, its latency and streaming AP from the report.
3. check-bundle of both shipped bundles against their torch twins on CUDA.

Writes the table for docs/BENCHMARKS.md to ``--out`` (and prints it). Without a CUDA GPU it says
so in one line and exits 0, so ``make gpu-check`` is safe anywhere. The image it was written for:
PyTorch with CUDA, ONNX Runtime without CUDA, no TensorRT, no network.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUDGET_S = 7 * 60
CASES = [('streamnet_s', 600, 960), ('streamnet_l', 1200, 1920),
         ('detr_r50', 512, 512), ('deformable_detr_r50', 512, 512)]


def _streamnet_step(name, h, w, dtype):
    import torch
    from training.twin import _build_streamnet
    from training.models.streamnet.blocks import fuse_repconv
    from training.models.streamnet.export_onnx import StreamNetGraphs
    from training.models.streamnet.zoo import ARGOVERSE_CLASSES
    model = fuse_repconv(_build_streamnet(name, len(ARGOVERSE_CLASSES), {}).eval())
    graphs = StreamNetGraphs(model).eval().cuda().to(dtype)
    x = torch.rand(1, 3, h, w, device='cuda', dtype=dtype) * 255
    with torch.no_grad():
        feats = graphs.encode(x)
    lv = graphs.levels
    history = [t.clone() for t in feats[lv:]] * graphs.history_frames   # a full buffer

    def step():
        out = graphs.encode(x)
        return graphs.forecast(*out[:lv], *history)
    return step


def _v2i_step(name, h, w, dtype):
    import torch
    from training.twin import V2IGraph
    from training.models.detr import zoo
    graph = V2IGraph(zoo.build(name, 1).eval()).eval().cuda().to(dtype)
    x = torch.rand(1, 3, h, w, device='cuda', dtype=dtype)
    hw = torch.tensor([[h, w]], device='cuda', dtype=dtype)
    return lambda: graph(x, hw)


def time_cuda(step, reps: int, warmup: int = 5, graph: bool = False) -> float:
    """Median ms of ``step`` (or of its CUDA-graph replay) by CUDA events."""
    import torch
    with torch.no_grad():
        for _ in range(warmup):
            step()
        torch.cuda.synchronize()
        run = step
        if graph:
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                step()
            run = g.replay
            run()
        times = []
        for _ in range(reps):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            run()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def latency_rows(reps: int, t0: float):
    import torch
    rows = []
    for name, h, w in CASES:
        cells = []
        for dtype, graph in ((torch.float32, False), (torch.float16, False),
                             (torch.float16, True)):
            if time.monotonic() - t0 > BUDGET_S:
                cells.append('skipped (time budget)')
                continue
            try:
                make = _streamnet_step if name.startswith('streamnet') else _v2i_step
                cells.append(f'{time_cuda(make(name, h, w, dtype), reps, graph=graph):.2f}')
            except Exception as exc:     # one failing case must not lose the others' numbers
                cells.append(f'failed: {type(exc).__name__}: {str(exc).splitlines()[0][:80]}')
            torch.cuda.empty_cache()
        rows.append([name, f'{h}x{w}'] + cells)
    return rows


def node_path_row(work: str):
    """replay of a recorded clip on the torch backend (torch-cuda here), as the node runs it."""
    from video_perception.backends.base import BackendOptions
    from video_perception.backends.select import load_backend
    from video_perception.bundle import load_bundle
    from video_perception.eval.metrics import headline
    bundle = os.path.join(REPO, 'models', 'streamnet_tiny_synth')
    be = load_backend(load_bundle(bundle), 'torch', BackendOptions(), log=lambda s: None)
    device = getattr(be, 'device', '?')
    be.close()
    cli = [sys.executable, '-m', 'video_perception.cli']
    clip = os.path.join(work, 'clip')
    subprocess.run(cli + ['synth', 'driving', clip, '--seed', '101', '--videos', '1',
                          '--frames', '90', '--bag', 'sqlite3'], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = os.path.join(work, 'replay')
    subprocess.run(cli + ['replay', os.path.join(clip, 'bags', 'driving_000'), '--model', bundle,
                          '--out', out, '--backend', 'torch', '--gt',
                          os.path.join(clip, 'dataset.json')], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h = headline(json.load(open(os.path.join(out, 'report.json'))))
    return ['streamnet_tiny_synth replay (torch backend, device ' + device + ')',
            f'{h["latency_median_ms"]:.2f}', f'{h["latency_p95_ms"]:.2f}',
            f'{100 * h["AP"]:.1f}']


def check_rows():
    from training.check_bundle import check_bundle
    from video_perception.backends.base import BackendOptions
    rows = []
    for name in ('streamnet_tiny_synth', 'v2i_distill_tiny_vocalfolds'):
        rc = check_bundle(os.path.join(REPO, 'models', name), backend_name='torch',
                          options=BackendOptions(device='cuda'))
        rows.append([name, 'torch (cuda)', 'PASS' if rc == 0 else 'FAIL'])
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='gpu_check.py', description=__doc__.splitlines()[0])
    p.add_argument('--out', default=os.path.join(REPO, 'runs', 'gpu_check.md'))
    p.add_argument('--reps', type=int, default=30)
    args = p.parse_args(argv)
    try:
        import torch
        cuda = torch.cuda.is_available()
    except ImportError:
        torch, cuda = None, False
    if not cuda:
        print(f'gpu-check: no CUDA GPU visible to torch '
              f'({"torch " + torch.__version__ if torch else "no torch"}); nothing measured')
        return 0
    from bench_common import md_table     # beside this script (its folder is on sys.path)
    t0 = time.monotonic()
    gpu = torch.cuda.get_device_name(0)
    parts = [f'GPU: {gpu}, torch {torch.__version__}, CUDA {torch.version.cuda}; '
             f'`make gpu-check`, {args.reps} reps, medians (ms per frame, CUDA events)\n',
             md_table(['model', 'input', 'fp32 ms', 'fp16 ms', 'fp16 CUDA graph ms'],
                      latency_rows(args.reps, t0))]
    with tempfile.TemporaryDirectory() as work:
        try:
            parts.append(md_table(['node path', 'median ms', 'p95 ms', 'streaming AP'],
                                  [node_path_row(work)]))
        except Exception as exc:
            parts.append(f'node path: failed: {type(exc).__name__}: {exc}'[:200])
    parts.append(md_table(['bundle', 'check-bundle backend', 'verdict'], check_rows()))
    parts.append(f'total {time.monotonic() - t0:.0f} s')
    text = '\n\n'.join(parts) + '\n'
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        f.write(text)
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
