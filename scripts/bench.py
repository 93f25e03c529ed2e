#!/usr/bin/env python3
"""``make bench``: measure the models, the StreamNet buffer and the node; write docs/BENCHMARKS.md.

    .venv/bin/python scripts/bench.py --out docs/BENCHMARKS.md [--quick] [--only SECTION]

Sections: ``peak`` (the machine's matmul peak), ``latency`` (per model and backend, with FLOP/s and
memory), ``history`` (StreamNet N=3 buffering reductions or maps vs N=0 vs recomputing 4 frames),
``v2i`` (students vs the video teacher), ``node`` (node overhead at 1920x1200 and the buffer's
cost), ``dds`` (the node end to end over DDS on loopback, separate processes), ``multicam`` (K
cameras into one batched node vs K single-camera nodes, ``bench_multicam.py``). ``--quick`` runs
tiny models only with a few repetitions (a smoke test of the report, not numbers to quote). Bundles
with random weights are exported once into ``--bundle-dir`` and reused.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

# scripts/ is on sys.path as this script's folder; training and video_perception are the
# installed package (`make setup` installs it editable).
from bench_common import atomic_write, machine_lines, matmul_peak, no_ort_spinning
from bench_models import (HISTORY_CACHED, HISTORY_PER_SLOT, HISTORY_RECOMPUTE, ModelCase,
                          bench_history, bench_latency, bench_v2i)

SECTIONS = ('peak', 'latency', 'history', 'v2i', 'node', 'dds', 'multicam', 'efficiency')
MULTICAM_FIGURE = 'figures/multicam_bench.png'      # beside the report


def plan(quick: bool) -> dict:
    """What each section measures: model cases with repetitions sized for 2 CPU cores."""
    tiny = [ModelCase('streamnet_tiny', 192, 320, 30, 3)]
    tiny_history = [ModelCase('streamnet_tiny', 192, 320, 60, 3)]
    v2i_tiny = [ModelCase(n, 256, 256, 20, 2)
                for n in ('detr_tiny', 'deformable_detr_tiny', 'sam_detr_tiny')]
    if quick:
        q = lambda c: ModelCase(c.name, c.height, c.width, 3, 1)  # noqa: E731
        return {'latency': [q(tiny[0]), q(v2i_tiny[0])], 'history': [q(tiny[0])],
                'v2i': [([q(v2i_tiny[0])], ModelCase('v2i_teacher_tiny', 256, 256, 3, 1))],
                'node_reps': 3, 'buffer_reps': 20, 'peak_reps': 3, 'dds_frames': 5,
                'multicam': ([('streamnet_tiny', 192, 320)], 2.0, 1)}
    big = [ModelCase('streamnet_s', 600, 960, 5, 1)]
    v2i_big = [ModelCase(n, 512, 512, 3, 1)
               for n in ('detr_r50', 'deformable_detr_r50', 'sam_detr_r50')]
    return {'latency': tiny + big + v2i_tiny + v2i_big,
            'history': tiny_history + [ModelCase('streamnet_s', 600, 960, 9, 1)],
            'v2i': [(v2i_tiny, ModelCase('v2i_teacher_tiny', 256, 256, 20, 2)),
                    (v2i_big, ModelCase('v2i_teacher_r50', 512, 512, 3, 1))],
            'node_reps': 30, 'buffer_reps': 200, 'peak_reps': 20, 'dds_frames': 40,
            # (models, seconds per round, rounds)
            'multicam': ([('streamnet_tiny', 192, 320), ('streamnet_s', 600, 960)], 6.0, 3)}


INTRO = """\
Every comparison below was measured side by side in one run: each repetition calls every variant
of a table once, in an order rotated by one per repetition, so a burst of load from another process
hits all of them alike; warm-up calls are excluded. Medians and p95 are over the repetitions (numpy
'linear' percentiles, `video_perception/eval/latency.py`); `p95/median-1` is the spread. **This
machine is shared and noisy** (other jobs run on the same 2 cores; see the load average): read the
ratios, which are taken from medians of the same run, rather than the absolute numbers. All models
have random weights (bundles exported by `video-perception export` without a checkpoint): latency
does not depend on the weights, except post-processing, which is not in the model times.
"""


THREADS_NOTE = """\
One thread per inference by default (`--threads`): on this shared 2-core machine a two-thread
torch call stalls at every parallel barrier whenever another process holds the other core
(measured while writing this script at load average 11: streamnet_tiny encode median 13.5 ms with
1 thread against 213 ms with 2). On a quiet machine `--threads 2` measures both cores.
"""


TEXT = {
    'peak': """## 1. Matrix-multiply peak of this machine

fp32 products of two n x n matrices (2 n^3 FLOPs), torch `torch.mm` and ONNX Runtime `MatMul`
(MLAS), {threads} thread(s), {reps} interleaved calls each: {sizes}. **Peak: best {best:.1f}
GFLOP/s**, the best of all of them (torch's CPU wheels multiply with MKL, which may not take its
fastest path on a non-Intel CPU). Model FLOP/s in section 2 are compared with it. FLOPs are
counted by `torch.utils.flop_counter.FlopCounterMode` on the torch backend (convolutions, matmuls,
attention; 2 FLOPs per multiply-add); grid_sample, element-wise ops and normalisation are not
counted, so deformable models read low.
""",
    'latency': """## 2. Model latency per frame, by model and backend

Model time as the detector measures it (`detector.model_ms`: the backend calls, for StreamNet
encoder + forecast with the feature buffer; letterbox and post-processing excluded), on a frame
already at the network size. torch = eager fp32 through the torch backend (RepConv fused);
onnxruntime = the exported bundle on the CPU provider. Memory, measured in a fresh process per row
(`scripts/bench_memory.py`) above the resident set after importing torch, onnxruntime and the
project: **RSS load** is the growth while the detector loads (torch: the model plus the state dict
read from disk); **peak RSS** is VmHWM over load and two frames (weights, runtime arenas,
activations). RSS covers numpy, torch and ONNX Runtime alike; torch's profiler would see only
torch's own allocations.

""",
    'history': """## 3. StreamNet history cost: N=3 with the buffer vs N=0 vs recomputing

torch eager, RepConv fused. **N=0**: encode the frame, forecast with no history (the model built
with `long_groups=()`). **N=3 + buffered reductions** (the default, what bundles do):
`StreamingRunner`, each frame encoded once and its long-path 1x1 reductions computed once and
buffered; a step reads 3 cached reductions. **N=3 + buffered maps, long convs per slot**: the
buffer before, `StreamingRunner(cached=False)`, which keeps the neck maps and runs the long convs
on each of the 3 slots every step. **N=3 recompute**: the released code's way, the offline
forward that encodes all 4 frames every step. Target: N=3 <= 1.05x N=0 (paper: 1.014x). The
paired ratio divides the calls of the same repetition (the same moment, the same load) before
taking the median; the FLOP ratio is free of noise.

""",
    'v2i': """## 4. V2I: students vs the video teacher

torch eager. A student sees one frame; the teacher (Deformable DETR + MSI) sees a clip of T=3
frames [t-2, t-1, t] for every output frame (it has no cache). Paper: teacher 2 FPS vs students
about 18-30 FPS (about 9x).

""",
    'node': """## 5. Node overhead at 1920x1200

The node's real path, `NodeCore.process` with the nodes' decode and publish callbacks, from the
CDR bytes of a 1920x1200 bgr8 `sensor_msgs/Image` (as the DDS reader hands them over) to the CDR
bytes of the `Detection2DArray` (as the writer sends them), with the detector's model time
subtracted; backend onnxruntime. The weights are random (scores about 1e-4), so two cases bracket
a trained model: at the default `score_threshold` 0.3 no StreamNet box passes (lower bound on
post-processing and messages); at 0 every anchor goes through NMS and `max_detections` (100)
boxes are published (upper bound); detr_tiny has 30 queries and publishes all 30 in both. The
stages below each total are timed on their own in the same loop.

""",
    'buffer': """

### Feature buffer cost per frame (N=3)

What the StreamNet detector does with the buffer each frame: take the N history views and copy
the new encoding in.

""",
    'dds': """## 6. End to end over DDS on loopback (separate processes)

`streamnet_node` (streamnet_tiny bundle, onnxruntime) in its own process; this process publishes
1920x1200 bgr8 Images (reliable QoS, 5 Hz so that no frame is dropped) and times each
Detection2DArray against the publish time of the Image with the same stamp, taken just before
`publish` (so it includes serialising the 6.9 MB Image, its DDS transfer through loopback, the
node's worker hand-off and the Detection2DArray's way back).

""",
    'multicam': """## 7. Many cameras: one batched node vs K single-camera nodes

K cameras, each 1920x1200 bgr8 at 30 Hz, handed to the nodes' subscription callbacks on a fixed
schedule (camera k offset by k/K of a period) in one process (`scripts/bench_multicam.py`):
**batched** is one node with the `cameras` parameter (one model and runtime; the newest frame of
each camera runs as one batch, `batch_timeout_ms` 10), **separate** is K single-camera node cores
(K models, K runtimes, K worker threads, as K `streamnet_node` processes). Bundles exported with
`--batch 1,2,4`; onnxruntime CPU, {threads} thread(s) per inference in each separate node and
{threads} x min(K, cores) in the batched one (the same thread budget), {rounds} round(s) of
{seconds:g} s per layout, alternating. Frames/s = detections published per second over all
cameras; latency = publish minus hand-over of that frame (frames replaced before the worker took
them are dropped, not counted as late). Goal (issue 15): at K = 4 at least 1.5x the throughput of
K separate nodes with p95 latency no worse. ![multi-camera bench]({figure})

""",
    'efficiency': """### 2a. StreamNet-S on ONNX Runtime CPU: % of the GEMM peak, fp32 vs int8

`scripts/bench_efficiency.py` (issue 21 items 2 and 4): the GEMM peak, the fp32 bundle and its
int8 bundle (calibrated on noise frames: latency does not depend on the scales) interleaved in
one run, {threads} thread(s), then a per-op profile of each bundle (ONNX Runtime's profiler).
% of peak = the model's GFLOP over its median time, over the best GEMM GFLOP/s of the run
(and over the best median GEMM).

""",
}


def section_texts(args, p: dict, data: dict) -> list:
    """Run the asked-for sections; returns markdown blocks in report order."""
    out, only = [], args.only
    want = (lambda s: only is None or s == only)
    peak = None
    if want('peak') or want('latency'):
        peak = matmul_peak((2048, 1024), p['peak_reps'], args.threads)
        data['matmul_peak'] = peak
        sizes = '; '.join(f'{k}: best {q["best_gflops"]:.1f}, median {q["median_gflops"]:.1f} '
                          f'GFLOP/s ({q["median_ms"]:.1f} ms a call)'
                          for k, q in peak['sizes'].items())
        out.append(TEXT['peak'].format(threads=args.threads, reps=peak['reps'], sizes=sizes,
                                       best=peak['best_gflops']))
    if want('latency'):
        text, data['latency'] = bench_latency(p['latency'], ['torch', 'onnxruntime'],
                                              args.threads, args.bundle_dir, peak['best_gflops'])
        out.append(TEXT['latency'] + text + '\n')
    if want('efficiency') and (not args.quick or only == 'efficiency'):
        from bench_efficiency import bench_efficiency, ensure_int8, goals
        from bench_models import ensure_bundle
        name, h, w = ('streamnet_tiny', 192, 320) if args.quick else ('streamnet_s', 600, 960)
        fp32 = ensure_bundle(name, h, w, args.bundle_dir)
        text, data['efficiency'] = bench_efficiency(
            {'fp32': fp32, 'int8': ensure_int8(fp32)}, 3 if args.quick else 8, args.threads)
        out.append(TEXT['efficiency'].format(threads=args.threads)
                   + '\n'.join(goals(data['efficiency'])) + '\n\n' + text + '\n')
    if want('history'):
        text, data['history'] = bench_history(p['history'], args.threads)
        out.append(TEXT['history'] + text + '\n')
    if want('v2i'):
        text, data['v2i'] = bench_v2i(p['v2i'], args.threads)
        out.append(TEXT['v2i'] + text + '\n')
    if want('node'):
        from bench_node import bench_buffer, bench_node_overhead
        from bench_models import ensure_bundle
        bundles = {'streamnet_tiny (192x320)':
                   ensure_bundle('streamnet_tiny', 192, 320, args.bundle_dir),
                   'detr_tiny (256x256)': ensure_bundle('detr_tiny', 256, 256, args.bundle_dir)}
        text, data['node'] = bench_node_overhead(bundles, 'onnxruntime', args.threads,
                                                 p['node_reps'])
        btext, data['buffer'] = bench_buffer(
            [('streamnet_tiny', 192, 320), ('streamnet_s', 600, 960)], p['buffer_reps'])
        out.append(TEXT['node'] + text + TEXT['buffer'] + btext + '\n')
    if want('dds') and (not args.quick or only == 'dds'):
        from bench_node import bench_dds
        from bench_models import ensure_bundle
        path = ensure_bundle('streamnet_tiny', 192, 320, args.bundle_dir)
        text, data['dds'] = bench_dds(path, 'onnxruntime', args.threads, p['dds_frames'], 5.0)
        out.append(TEXT['dds'] + text + '\n')
    if want('multicam') and (not args.quick or only == 'multicam'):
        # (--quick leaves it out unless asked: exporting three batch sizes takes minutes)
        from bench_models import ensure_bundle
        from bench_multicam import bench_multicam
        models, seconds, rounds = p['multicam']
        cases = [(f'{n} ({h}x{w})', ensure_bundle(n, h, w, args.bundle_dir, (1, 2, 4)))
                 for n, h, w in models]
        figure = os.path.join(os.path.dirname(os.path.abspath(args.out)), MULTICAM_FIGURE)
        os.makedirs(os.path.dirname(figure), exist_ok=True)
        text, data['multicam'] = bench_multicam(cases, (1, 2, 4), 30.0, seconds, rounds,
                                                args.threads, plot=figure)
        out.append(TEXT['multicam'].format(threads=args.threads, rounds=rounds,
                                           seconds=seconds, figure=MULTICAM_FIGURE)
                   + text + '\n')
    return out


def headline(data: dict) -> list:
    """The numbers the issues ask for, one bullet each, taken from the tables below."""
    out = []
    hist = data.get('history', {})
    for name in ('streamnet_tiny', 'streamnet_s'):
        b, o = hist.get(f'{name}/{HISTORY_CACHED}'), hist.get(f'{name}/{HISTORY_PER_SLOT}')
        r = hist.get(f'{name}/{HISTORY_RECOMPUTE}')
        if b and o and r:
            verdict = 'meets' if b['ratio'] <= 1.05 else 'misses'
            out.append(f'- StreamNet history cost, {name}: N=3 with buffered reductions = '
                       f'**{b["ratio"]:.3f}x** N=0 (paired {b["paired_ratio"]:.3f}x; FLOPs '
                       f'{b["flop_ratio"]:.4f}x; {verdict} the 1.05x target; paper 1.014x); '
                       f'buffered maps with the long convs per slot {o["ratio"]:.3f}x (paired '
                       f'{o["paired_ratio"]:.3f}x; FLOPs {o["flop_ratio"]:.4f}x); recomputing all '
                       f'4 frames = {r["ratio"]:.2f}x N=0.')
    for key, b in data.get('multicam', {}).items():
        if key.endswith('/K=4/batched'):
            sep = data['multicam'][key.replace('/batched', '/separate')]
            ratio = b['fps'] / sep['fps'] if sep['fps'] else float('nan')
            verdict = 'meets' if ratio >= 1.5 and b['p95'] <= sep['p95'] else 'misses'
            out.append(f'- Four 1920x1200 cameras at 30 Hz, {key.split("/")[0]}: one batched node '
                       f'serves **{b["fps"]:.1f}** frames/s against {sep["fps"]:.1f} for four '
                       f'nodes (**{ratio:.2f}x**), p95 {b["p95"]:.0f} vs {sep["p95"]:.0f} ms '
                       f'({verdict} the 1.5x goal with p95 no worse).')
    v2i = data.get('v2i', {})
    for group, teacher in (('r50 at 512x512', 'v2i_teacher_r50'),
                           ('tiny at 256x256', 'v2i_teacher_tiny')):
        ratios = [f'{k} {v["teacher_over_model"]:.1f}x' for k, v in v2i.items()
                  if k != teacher and (('_r50' in k) == ('_r50' in teacher))]
        if teacher in v2i and ratios:
            out.append(f'- V2I teacher (T=3) / student latency, {group}: {", ".join(ratios)} '
                       '(paper about 9x).')
    node = data.get('node', {})
    for key, s in node.items():
        if key.endswith('/message in -> message out, minus model time'):
            label, case = key.split('/')[:2]
            out.append(f'- Node overhead at 1920x1200, {label}, {case}: median '
                       f'{s["median"]:.1f} ms, p95 {s["p95"]:.1f} ms per frame (model time '
                       'excluded).')
    buf = data.get('buffer', {}).get('streamnet_s')
    if buf:
        out.append(f'- Feature buffer (N=3) per frame, streamnet_s 600x960: median '
                   f'{buf["median"] * 1000:.0f} us.')
    dds = data.get('dds')
    if dds:
        out.append(f'- End to end over DDS at 1920x1200 (streamnet_tiny): median '
                   f'{dds["median"]:.1f} ms, of which model {dds["model_ms_median"]:.1f} ms.')
    if data.get('efficiency'):
        from bench_efficiency import goals
        out += goals(data['efficiency'])
    return (['## Headline', ''] + out + ['']) if out else []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='docs/BENCHMARKS.md', help='markdown report to write')
    parser.add_argument('--quick', action='store_true', help='tiny models, few repetitions')
    parser.add_argument('--only', choices=SECTIONS, help='run one section')
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU threads per inference (default 1; the report says why)')
    parser.add_argument('--bundle-dir', default='build/bench_bundles',
                        help='where exported bundles are cached')
    parser.add_argument('--json', help='also write the measured numbers as JSON here')
    args = parser.parse_args(argv)
    if args.threads < 1:
        print(f'bench: --threads {args.threads}: expected >= 1', file=sys.stderr)
        return 2
    from video_perception.outdir import check_apart
    try:  # the report, the JSON and the bundle cache: three places, none inside another
        check_apart({'--out': args.out, '--json': args.json}, {'--bundle-dir': args.bundle_dir})
        check_apart({'--json': args.json}, {'--out': args.out}, guard_cwd=False)
    except ValueError as exc:
        print(f'bench: {exc}', file=sys.stderr)
        return 2
    import torch
    torch.set_num_threads(args.threads)
    no_ort_spinning()
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    machine = machine_lines(args.threads)
    data: dict = {}
    blocks = section_texts(args, plan(args.quick), data)
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    cmd = ' '.join(['.venv/bin/python', 'scripts/bench.py'] + list(
        sys.argv[1:] if argv is None else argv))
    head = ['# Benchmarks', '',
            f'Produced by `{cmd}` (`make bench`) on {started:%Y-%m-%d %H:%M} UTC in '
            f'{(time.perf_counter() - t0) / 60:.1f} min'
            + (' (**--quick: smoke run, not numbers to quote**)' if args.quick else '')
            + '.', '', '## The machine', ''] + machine + [
            f'- Load average at the end: {load}', '', INTRO, THREADS_NOTE] + headline(data)
    text = '\n'.join(head) + '\n' + '\n'.join(blocks)
    atomic_write(args.out, text)
    if args.json:
        atomic_write(args.json, json.dumps(data, indent=1, default=float))
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':  # SIGTERM / Ctrl-C: one line, exit 143 / 130, nothing half-made
    from video_perception.tools.cli_common import run_stoppable
    sys.exit(run_stoppable('bench', main))
