#!/usr/bin/env python3
"""CPU efficiency of StreamNet-S on ONNX Runtime: % of the GEMM peak, fp32 vs int8, and where
the time goes (issue 21 items 2 and 4; docs/BENCHMARKS.md section 2a).

    python scripts/bench_efficiency.py --fp32 B --int8 B8 [--also LABEL=BUNDLE ...]
                                       [--reps 8] [--threads 1] [--out FILE.md]

One interleaved run (``bench_common.measure_interleaved``: rotated order, warm-up excluded):
the GEMM variants of ``bench_common.matmul_peak`` (torch ``mm`` and ONNX Runtime ``MatMul`` on
n x n) plus the biggest convolutions of the fp32 encoder as [Cout, Cin*kh*kw] x [Cin*kh*kw,
Ho*Wo] ONNX Runtime MatMuls, and each bundle through the detector (encoder + forecast with the
feature buffer, sessions made by the onnxruntime backend as the node makes them). Efficiency =
the model's GFLOP (FlopCounterMode on the torch backend, section 2's count) over its median time,
divided by the best GEMM GFLOP/s of the same run (the peak), and by the median of the best GEMM
variant. Then a per-op-type profile (ONNX Runtime's profiler, kernel time per frame) of each
bundle, on sessions made by the same backend with profiling switched on.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections import Counter
from typing import Dict, List, Sequence, Tuple

import numpy as np

from bench_common import (_ort_matmul, count_flops, fmt, md_table, measure_interleaved,
                          no_ort_spinning, summary_ms)

SQUARES = (2048, 1024)
# kernels doing the multiply-adds; everything else is what int8 cannot speed up
GEMM_OPS = ('Conv', 'FusedConv', 'QLinearConv', 'MatMul', 'FusedMatMul', 'QLinearMatMul', 'Gemm')


def conv_gemms(onnx_path: str, top: int = 2) -> List[Tuple[int, int, int]]:
    """(M, K, N) = (Cout, Cin/groups*kh*kw, Ho*Wo) of the ``top`` distinct convolution shapes of
    the graph with the most FLOPs in total (a convolution is that GEMM after im2col)."""
    import onnx
    from onnx import shape_inference
    model = shape_inference.infer_shapes(onnx.load(onnx_path))
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(model.graph.value_info) + list(model.graph.output)}
    inits = {i.name: list(i.dims) for i in model.graph.initializer}
    total: Counter = Counter()
    for n in model.graph.node:
        if n.op_type == 'Conv' and n.input[1] in inits and n.output[0] in dims:
            cout, cin, kh, kw = inits[n.input[1]]
            ho, wo = dims[n.output[0]][2:]
            shape = (cout, cin * kh * kw, ho * wo)
            total[shape] += 2 * shape[0] * shape[1] * shape[2]
    return [s for s, _ in total.most_common(top)]


def gemm_variants(shapes: Sequence[Tuple[int, int, int]], threads: int):
    """name -> (callable, FLOPs a call): torch mm and ORT MatMul on SQUARES, ORT on ``shapes``."""
    import torch
    gen = torch.Generator().manual_seed(0)
    out = {}
    for n in SQUARES:
        a, b = torch.rand(n, n, generator=gen), torch.rand(n, n, generator=gen)
        out[f'GEMM torch {n}^3'] = (lambda a=a, b=b: torch.mm(a, b), 2.0 * n ** 3)
        out[f'GEMM onnxruntime {n}^3'] = (_ort_matmul(n, threads), 2.0 * n ** 3)
    for m, k, n in shapes:
        out[f'GEMM onnxruntime conv {m}x{k}x{n}'] = (_ort_matmul(0, threads, (m, k, n)),
                                                     2.0 * m * k * n)
    return out


@contextlib.contextmanager
def ort_profiling(prefix: str):
    """Every onnxruntime.SessionOptions made inside writes a profile (``prefix``_*.json): the
    backend's own session creation is reused, only the profiler is switched on."""
    import onnxruntime
    base = onnxruntime.SessionOptions

    class Profiled(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.enable_profiling = True
            self.profile_file_prefix = prefix
    onnxruntime.SessionOptions = Profiled
    try:
        yield
    finally:
        onnxruntime.SessionOptions = base


def aggregate_profile(events: Sequence[dict], skip_runs: int) -> Tuple[Counter, int]:
    """Kernel microseconds per op type over the model runs after the first ``skip_runs`` (by
    the runs' start times), and the number of runs counted."""
    runs = sorted(e['ts'] for e in events
                  if e.get('cat') == 'Session' and e.get('name') == 'model_run')
    kept = runs[skip_runs:]
    if not kept:
        return Counter(), 0
    total: Counter = Counter()
    for e in events:
        if e.get('cat') == 'Node' and e.get('name', '').endswith('_kernel_time') \
                and e['ts'] >= kept[0]:
            total[e['args']['op_name']] += float(e['dur'])
    return total, len(kept)


def _detectors(path: str, threads: int, profile: str = ''):
    from video_perception.backends.base import BackendOptions
    from video_perception.backends.select import load_backend
    from video_perception.bundle import load_bundle
    from video_perception.families import get_family
    bundle = load_bundle(path)
    opts = BackendOptions(device='cpu', threads=threads)
    with ort_profiling(profile) if profile else contextlib.nullcontext():
        return get_family(bundle.family).Detector(
            bundle, load_backend(bundle, 'onnxruntime', opts, log=lambda _: None))


def profile_bundles(bundles: Dict[str, str], threads: int, frame, reps: int,
                    folder: str) -> Dict[str, Dict[str, float]]:
    """label -> 'graph: op' -> kernel ms per frame, from ``reps`` profiled frames of each bundle
    after one warm-up, interleaved like the timed run (so load hits all bundles alike)."""
    from bench_models import _detector_call
    dets = {k: _detectors(p, threads, os.path.join(folder, str(i)))
            for i, (k, p) in enumerate(bundles.items())}
    measure_interleaved({k: _detector_call(d, frame) for k, d in dets.items()}, reps,
                        warmup=1, desc='profile')
    out = {}
    for k, det in dets.items():
        per: Dict[str, float] = {}
        for (role, _batch), sess in det.backend.sessions.items():
            path = sess.end_profiling()
            with open(path) as f:
                total, runs = aggregate_profile(json.load(f), 1)
            os.unlink(path)
            for op, us in total.items():
                per[f'{role}: {op}'] = us / 1000.0 / max(runs, 1)
        det.close()
        out[k] = per
    return out


def bench_efficiency(bundles: Dict[str, str], reps: int, threads: int = 1,
                     profile_reps: int = 3) -> Tuple[str, dict]:
    """bundles: label -> bundle folder (the first is the fp32 one the FLOPs and the GEMM shapes
    come from). Returns the markdown (tables) and the numbers."""
    import torch
    from bench_models import _detector_call, _frame
    from video_perception.bundle import load_bundle
    torch.set_num_threads(threads)
    no_ort_spinning()
    first = load_bundle(next(iter(bundles.values())))
    frame = _frame(first.height, first.width)
    tdet = _torch_detector(first.root, threads)
    for prm in tdet.backend.model.parameters():
        prm.requires_grad_(False)
    gflop = count_flops(_detector_call(tdet, frame)) / 1e9
    tdet.close()
    gemms = gemm_variants(conv_gemms(first.graph('encoder', 1)), threads)
    dets = {k: _detectors(p, threads) for k, p in bundles.items()}
    variants = {k: f for k, (f, _) in gemms.items()}
    variants.update({k: _detector_call(d, frame) for k, d in dets.items()})
    load0 = os.getloadavg()
    times = measure_interleaved(variants, reps, warmup=1, desc='efficiency')
    load1 = os.getloadavg()
    for d in dets.values():
        d.close()
    s = {k: summary_ms(v) for k, v in times.items()}
    g_best = {k: fl / 1e9 / (s[k]['min'] / 1000) for k, (_, fl) in gemms.items()}
    g_med = {k: fl / 1e9 / (s[k]['median'] / 1000) for k, (_, fl) in gemms.items()}
    peak, peak_med = max(g_best.values()), max(g_med.values())
    rows, data = [], {'model': f'{first.variant} {first.height}x{first.width}', 'gflop': gflop,
                      'peak_gflops': peak, 'peak_median_gflops': peak_med,
                      'load_before': load0, 'load_after': load1, 'reps': reps, 'rows': {}}
    for k in variants:
        ach = gflop / (s[k]['median'] / 1000) if k in dets else g_med[k]
        best = None if k in dets else g_best[k]
        rows.append([k, fmt(s[k]['median']), fmt(s[k]['p95']), fmt(s[k]['min']), fmt(ach),
                     fmt(best), fmt(100 * ach / peak), fmt(100 * ach / peak_med)])
        data['rows'][k] = dict(s[k], gflops=ach)
    text = md_table(['variant', 'median ms', 'p95 ms', 'min ms', 'GFLOP/s (median)',
                     'GFLOP/s (best)', '% of peak (best GEMM)', '% of median GEMM'], rows)
    import tempfile
    with tempfile.TemporaryDirectory(prefix='effprof_') as tmp:
        prof = profile_bundles(bundles, threads, frame, profile_reps, tmp)
    data['profile'] = prof
    return text + '\n\n' + profile_table(prof, s) + '\n', data


def _torch_detector(path: str, threads: int):
    from video_perception.backends.base import BackendOptions
    from video_perception.backends.select import load_backend
    from video_perception.bundle import load_bundle
    from video_perception.families import get_family
    b = load_bundle(path)
    return get_family(b.family).Detector(b, load_backend(
        b, 'torch', BackendOptions(device='cpu', threads=threads), log=lambda _: None))


def profile_table(prof: Dict[str, Dict[str, float]], stats: Dict[str, dict],
                  min_ms: float = 5.0) -> str:
    """Per-op-type kernel ms per frame, one column per bundle; rows under ``min_ms`` in every
    column are summed into 'other'. Also the GEMM kernels' total and what a frame would take if
    every other kernel were free."""
    labels = list(prof)
    ops = sorted({o for p in prof.values() for o in p}, key=lambda o: -max(
        p.get(o, 0.0) for p in prof.values()))
    big = [o for o in ops if max(p.get(o, 0.0) for p in prof.values()) >= min_ms]
    rows = [[o] + [fmt(prof[k].get(o)) if o in prof[k] else '-' for k in labels] for o in big]
    rows.append(['other (each < %g ms)' % min_ms] + [
        fmt(sum(v for o, v in prof[k].items() if o not in big)) for k in labels])
    total = {k: sum(prof[k].values()) for k in labels}
    gemm = {k: sum(v for o, v in prof[k].items() if o.split(': ')[-1] in GEMM_OPS)
            for k in labels}
    rows.append(['**all kernels**'] + [fmt(total[k]) for k in labels])
    rows.append(['GEMM kernels (' + ', '.join(GEMM_OPS[:3]) + ', MatMul...)'] +
                [fmt(gemm[k]) for k in labels])
    rows.append(['frame median, timed run'] + [fmt(stats[k]['median']) for k in labels])
    return md_table(['kernel ms per frame (ORT profiler)'] + labels, rows)


def ensure_int8(fp32: str, frames: int = 2) -> str:
    """The bundle quantised as ``export --int8`` does, calibrated on ``frames`` noise frames
    (latency does not depend on the scales; accuracy is section 8's), cached as section 8's
    int8 bundles are (``bench_int8.int8_bundle``: keyed by the quantiser's source, so a changed
    quantiser re-quantises)."""
    import tempfile
    import cv2
    from bench_int8 import int8_bundle
    from video_perception.bundle import load_bundle
    b = load_bundle(fp32)
    with tempfile.TemporaryDirectory(prefix='effcalib_') as calib:
        for i in range(frames):
            rng = np.random.default_rng(i)
            cv2.imwrite(os.path.join(calib, f'{i:03d}.png'),
                        rng.integers(0, 256, (b.height, b.width, 3), dtype=np.uint8))
        return int8_bundle(fp32.rstrip('/'), calib, frames)


def goals(data: dict) -> List[str]:
    """The two goals' verdicts from one run's numbers (markdown bullets)."""
    r = data['rows']
    fp, pk, pm = r['fp32']['gflops'], data['peak_gflops'], data['peak_median_gflops']
    name = data.get('model', 'the model')
    out = [f'- {name} fp32 on ONNX Runtime CPU: {fp:.1f} GFLOP/s = **{100 * fp / pk:.1f} %** of '
           f'the best GEMM ({pk:.1f} GFLOP/s), {100 * fp / pm:.1f} % of the best median GEMM '
           f'({pm:.1f}): '
           f'{"meets" if fp >= 0.75 * pk else "misses"} the 75 % goal (against the best).']
    if 'int8' in r:
        ratio = r['fp32']['median'] / r['int8']['median']
        p8, p32 = data['profile']['int8'], data['profile']['fp32']
        gemm = sum(v for o, v in p8.items() if o.split(': ')[-1] in GEMM_OPS)
        grid = sum(v for o, v in p8.items() if o.endswith(': GridSample'))
        out.append(f'- {name} int8: **{ratio:.2f}x** faster than fp32 (medians '
                   f'{r["fp32"]["median"]:.0f} / {r["int8"]["median"]:.0f} ms): '
                   f'{"meets" if ratio >= 1.8 else "misses"} the 1.8x goal. From the profile '
                   f'(fp32 kernels {sum(p32.values()):.0f} ms, int8 {sum(p8.values()):.0f} ms, '
                   f'of which int8 GEMMs {gemm:.0f}): if every int8 kernel but the GEMMs were '
                   f'free, {sum(p32.values()) / gemm:.2f}x; with the float GridSample too '
                   f'({grid:.0f} ms), {sum(p32.values()) / (gemm + grid):.2f}x.')
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--fp32', required=True, help='fp32 bundle (FLOPs and GEMM shapes)')
    ap.add_argument('--int8', help='int8 bundle of the same model')
    ap.add_argument('--also', action='append', default=[], metavar='LABEL=BUNDLE',
                    help='another bundle in the same run (e.g. before a change); repeatable')
    ap.add_argument('--reps', type=int, default=8)
    ap.add_argument('--profile-reps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--out', help='write the markdown here')
    ap.add_argument('--json', help='write the numbers here')
    args = ap.parse_args(argv)
    bundles = {'fp32': args.fp32, **({'int8': args.int8} if args.int8 else {})}
    for item in args.also:
        label, sep, path = item.partition('=')
        if not sep or not label or not os.path.isfile(os.path.join(path, 'model.json')):
            print(f'bench_efficiency: --also {item}: expected LABEL=BUNDLE_FOLDER',
                  file=sys.stderr)
            return 2
        bundles[label] = path
    text, data = bench_efficiency(bundles, args.reps, args.threads, args.profile_reps)
    text = '\n'.join(goals(data)) + '\n\n' + text
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(data, f, indent=1, default=float)
    return 0


if __name__ == '__main__':
    sys.exit(main())
