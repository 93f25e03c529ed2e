#!/usr/bin/env python3
"""``make bench``: measure models, StreamNet buffer, node, cameras, INT8 into docs/BENCHMARKS.md.

    .venv/bin/python scripts/bench.py --out docs/BENCHMARKS.md [--quick] [--only SECTION[,...]]

Sections: ``peak`` (the machine's matmul peak), ``latency`` (per model and backend, with FLOP/s and
memory), ``history`` (StreamNet N=3 buffering reductions or maps vs N=0 vs recomputing 4 frames),
``v2i`` (students vs the video teacher), ``node`` (node overhead at 1920x1200 and the buffer's
cost), ``dds`` (the node end to end over DDS on loopback, separate processes), ``multicam`` (K
cameras into one batched or per-camera node vs K single-camera nodes, ``bench_multicam.py``),
``int8`` (fp32 vs int8 latency and accuracy, ``bench_int8.py``). ``--quick`` runs every section
on tiny models with a few repetitions (a smoke test of the report, not numbers to quote).
Bundles with random weights are exported once into ``--bundle-dir`` and reused.

``--only`` (repeated or comma-separated) measures those sections and replaces them in the report
at ``--out``, keeping every other section and its headline bullets byte for byte
(``bench_report.py``: the ``<!-- bench:section NAME -->`` markers); ``latency`` re-measures
``peak`` too (its "% of peak" column). Hand-written blocks (``<!-- bench:manual NAME -->``) are
kept by every run. An existing report without markers is refused (``--force`` replaces it).

Duration on the 2 shared cores here at a load average of 3 to 5 (measured 2026-12-07): about
20 min for the whole run with the bundles cached (sections 1-6 about 8 min, ``multicam`` 7,
``int8`` 5), plus about 25 min the first time to export the bundles (streamnet_s with batch sizes
1, 2 and 4 alone 11 min) and quantise the int8 ones; ``--quick`` about 3 min from an empty cache.
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
import bench_multicam
import bench_report as report
from bench_common import atomic_write, machine_lines, matmul_peak, no_ort_spinning
from bench_goals import headline, int8_goal_lines, multicam_bullets
from bench_models import (ModelCase,
                          bench_history, bench_latency, bench_v2i)

# report order (an --only section missing from the report goes before the next one present):
# efficiency is section 2a, after latency
SECTIONS = ('peak', 'latency', 'efficiency', 'history', 'v2i', 'node', 'dds', 'multicam', 'int8')
MULTICAM_FIGURE = 'figures/multicam_bench.png'      # beside the report
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
                'multicam': ([('streamnet_tiny', 192, 320, (4,), 1.0)], 1),
                'int8': {'cases': [('streamnet_tiny', 192, 320, 'driving', 3)],
                         'calib_frames': 4, 'calib_clip_frames': 20, 'clip_frames': 20,
                         'acc_calib_frames': 20, 'v2i_calib_frames': 8}}
    big = [ModelCase('streamnet_s', 600, 960, 5, 1)]
    v2i_big = [ModelCase(n, 512, 512, 3, 1)
               for n in ('detr_r50', 'deformable_detr_r50', 'sam_detr_r50')]
    return {'latency': tiny + big + v2i_tiny + v2i_big,
            'history': tiny_history + [ModelCase('streamnet_s', 600, 960, 9, 1)],
            'v2i': [(v2i_tiny, ModelCase('v2i_teacher_tiny', 256, 256, 20, 2)),
                    (v2i_big, ModelCase('v2i_teacher_r50', 512, 512, 3, 1))],
            'node_reps': 30, 'buffer_reps': 200, 'peak_reps': 20, 'dds_frames': 40,
            # ((model, H, W, camera counts K, seconds per round), rounds): S only at the goal's
            # K = 4 (far below real time at any K on 2 cores; K = 1, 2 say nothing new), in
            # rounds long enough for a few tens of its frames (about 1 frame/s in all)
            'multicam': ([('streamnet_tiny', 192, 320, (1, 2, 4), 6.0),
                          ('streamnet_s', 600, 960, (4,), 20.0)], 3),
            # (model, H, W, calibration kind, repetitions); latency does not depend on the
            # scales: 8 calibration frames; accuracy: as the shipped bundles would be quantised
            'int8': {'cases': [('streamnet_tiny', 192, 320, 'driving', 30),
                               ('streamnet_s', 600, 960, 'driving', 8),
                               ('deformable_detr_r50', 512, 512, 'lesion', 6),
                               ('detr_r50', 512, 512, 'lesion', 8)],
                     'calib_frames': 8, 'calib_clip_frames': 200, 'clip_frames': 90,
                     'acc_calib_frames': 200, 'v2i_calib_frames': 32}}


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
    'multicam': bench_multicam.TEXT,
    'int8': """## 8. INT8 (QDQ) bundles (issue 21)

`video-perception export NAME --checkpoint CKPT_OR_BUNDLE --int8 --calib SRC` writes a bundle
whose graphs carry explicit QuantizeLinear / DequantizeLinear nodes (training/quantize.py:
onnxruntime.quantization, signed symmetric int8 activations, per-channel weights in 7 bits of
range, float biases; why those choices: the module docstring). The same files build an
explicitly quantised TensorRT engine (INT8 flag; tested up to the builder call with a stand-in
module, no TensorRT here) and run on ONNX Runtime's CPU kernels, where the backend hands them
over with uint8 activation zero points (video_perception/backends/qdq_cpu.py: exact; x86 fuses
int8 convolutions only for u8 activations). The tables below are `make bench`'s
(`scripts/bench_int8.py`'s `bench_int8_section`); the float-kept groups further down are a
one-off command that `make bench` does not re-run (it quantises each model once per group:
several minutes per model on this machine).

### Latency, fp32 vs int8, ONNX Runtime CPU

Model time per frame through the detector (encoder + forecast for StreamNet, the student for
V2I), {threads} thread(s) per inference, random weights, fp32 and int8 bundles called alternately
in one run (medians; int8 calibrated on {calib_frames} frames: latency does not depend on the
scales; driving models from a rosbag2 of a synthetic clip, the V2I students from VocalFolds seq1).

""",
    'int8_accuracy': """### Accuracy, fp32 vs int8

`video-perception replay` of both bundles over the same clip with the same fixed 10 ms latency
schedule (so the machine's load cannot move the AP; `scripts/bench_int8.py`'s `replay_pair`).
The int8 bundles are the shipped ones quantised as a user would (`quantize_bundle`, what `export
--int8` runs, on a copy of the shipped bundle): the tiny StreamNet calibrated on
{acc_calib_frames} frames of a rosbag2 of an unseen synthetic clip (seed 202), the V2I student on
{v2i_calib_frames} frames of VocalFolds seq1 (its training sequence); scored on the README's
held-out driving clip (seed 101) and on VocalFolds seq2 played from a rosbag2 as the demo does
(lesion F1 at score 0.5, the demo's protocol). AP in percent. The V2I student is tiny and trained
for minutes on a CPU, so its AP is near 0 either way; its lesion F1 is the figure to compare.

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
    """Run the asked-for sections; returns (name, markdown, marker attributes) in report order.
    Each ``if want(NAME):`` block appends its markdown to ``out``; ``want`` also notes when the
    section started, so its time and load average come with it."""
    out, only, spans = [], args.only, []

    def want(s: str) -> bool:
        if only is not None and s not in only:
            return False
        spans.append((s, len(out), datetime.datetime.now(datetime.timezone.utc),
                      time.perf_counter(), os.getloadavg()[0]))
        return True
    peak = None
    if want('peak'):
        peak = matmul_peak((2048, 1024), p['peak_reps'], args.threads)
        data['matmul_peak'] = peak
        sizes = '; '.join(f'{k}: best {q["best_gflops"]:.1f}, median {q["median_gflops"]:.1f} '
                          f'GFLOP/s ({q["median_ms"]:.1f} ms a call)'
                          for k, q in peak['sizes'].items())
        out.append(TEXT['peak'].format(threads=args.threads, reps=peak['reps'], sizes=sizes,
                                       best=peak['best_gflops']))
    if want('latency'):    # (--only latency runs peak too: main adds it)
        text, data['latency'] = bench_latency(p['latency'], ['torch', 'onnxruntime'],
                                              args.threads, args.bundle_dir, peak['best_gflops'])
        out.append(TEXT['latency'] + text + '\n')
    if want('efficiency'):     # (--quick: on streamnet_tiny)
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
    if want('dds'):
        from bench_node import bench_dds
        from bench_models import ensure_bundle
        path = ensure_bundle('streamnet_tiny', 192, 320, args.bundle_dir)
        text, data['dds'] = bench_dds(path, 'onnxruntime', args.threads, p['dds_frames'], 5.0)
        out.append(TEXT['dds'] + text + '\n')
    if want('multicam'):
        from bench_models import ensure_bundle
        from bench_multicam import bench_multicam
        models, rounds = p['multicam']
        cases = [(f'{n} ({h}x{w})', ensure_bundle(n, h, w, args.bundle_dir, (1, 2, 4)), ks, sec)
                 for n, h, w, ks, sec in models]
        figure = os.path.join(os.path.dirname(os.path.abspath(args.out)), MULTICAM_FIGURE)
        os.makedirs(os.path.dirname(figure), exist_ok=True)
        text, data['multicam'] = bench_multicam(cases, (1, 2, 4), 30.0, 4.0, rounds,
                                                args.threads, plot=figure)
        which = '; '.join(f'{label} at K = {", ".join(map(str, ks))}, rounds of {sec:g} s'
                          for label, _, ks, sec in cases)
        out.append(TEXT['multicam'].format(threads=args.threads, rounds=rounds,
                                           figure=MULTICAM_FIGURE, cases=which)
                   + text + '\n\n' + '\n'.join(multicam_bullets(data['multicam'])) + '\n')
    if want('int8'):
        from bench_int8 import bench_int8_section
        q = p['int8']
        data_dir = os.environ.get('VIDEO_PERCEPTION_DATA',
                                  os.path.join(os.path.dirname(REPO), 'shared', 'data'))
        lat, acc, data['int8'] = bench_int8_section(q, args.bundle_dir, args.threads,
                                                    os.path.join(REPO, 'models'), data_dir)
        goals = int8_goal_lines(data['int8']['latency'], data['int8']['accuracy'])
        out.append(TEXT['int8'].format(threads=args.threads, **q) + lat + '\n\n'
                   + goals['speed'] + '\n\n' + TEXT['int8_accuracy'].format(**q) + acc
                   + '\n\n' + goals['ap'] + '\n')
    ends = [start for _, start, *_ in spans[1:]] + [len(out)]
    now, load = time.perf_counter(), os.getloadavg()[0]
    result = []
    for (name, start, when, t0, load0), end, nxt in zip(spans, ends, spans[1:] + [None]):
        t1, load1 = (nxt[3], nxt[4]) if nxt else (now, load)
        if end > start:
            result.append((name, ''.join(out[start:end]), {
                'measured': f'{when:%Y-%m-%d %H:%M} UTC', 'minutes': f'{(t1 - t0) / 60:.1f}',
                'load': f'{load0:.2f} to {load1:.2f}'}))
    return result


def parse_only(values) -> list:
    """--only's values (repeated, comma-separated) -> section names; ValueError names a bad one.
    ``latency`` brings ``peak`` (its "% of peak" column is relative to the same run's peak)."""
    if not values:
        return None
    names = [n.strip() for v in values for n in v.split(',') if n.strip()]
    for n in names:
        if n not in SECTIONS:
            raise ValueError(f'--only {n}: expected one or more of {", ".join(SECTIONS)} '
                             '(repeated or comma-separated)')
    if not names:
        raise ValueError(f'--only: empty; expected one or more of {", ".join(SECTIONS)}')
    if 'latency' in names:
        names.append('peak')
    return [s for s in SECTIONS if s in names]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='docs/BENCHMARKS.md', help='markdown report to write')
    parser.add_argument('--quick', action='store_true', help='tiny models, few repetitions')
    parser.add_argument('--only', action='append', metavar='SECTION[,SECTION]',
                        help=f'measure only these ({", ".join(SECTIONS)}) and replace them in '
                        'the report, keeping the others; repeatable')
    parser.add_argument('--force', action='store_true',
                        help='replace an existing report that has no section markers')
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
        args.only = parse_only(args.only)
        check_apart({'--out': args.out, '--json': args.json}, {'--bundle-dir': args.bundle_dir})
        check_apart({'--json': args.json}, {'--out': args.out}, guard_cwd=False)
        old = report.read(args.out, args.force)     # refused before minutes of measuring
    except (ValueError, OSError) as exc:
        print(f'bench: {exc}', file=sys.stderr)
        return 2
    import torch
    torch.set_num_threads(args.threads)
    no_ort_spinning()
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.perf_counter()
    machine = machine_lines(args.threads)
    data: dict = {}
    cmd = ' '.join(['.venv/bin/python', 'scripts/bench.py'] + list(
        sys.argv[1:] if argv is None else argv))
    measured = section_texts(args, plan(args.quick), data)
    try:
        old = report.read(args.out, args.force)     # again: the file as it is now
    except (ValueError, OSError) as exc:
        print(f'bench: {exc}', file=sys.stderr)
        return 2
    quick = ' (**--quick: smoke run, not numbers to quote**)' if args.quick else ''
    blocks = report.merge(old, {name: report.section_block(name, dict(attrs, cmd=cmd), text,
                                                           quick)
                                for name, text, attrs in measured}, SECTIONS)
    load = ', '.join(f'{x:.2f}' for x in os.getloadavg())
    head = ['# Benchmarks', '',
            f'Last written by `{cmd}` (`make bench`) on {started:%Y-%m-%d %H:%M} UTC in '
            f'{(time.perf_counter() - t0) / 60:.1f} min{quick}. Each section says when it was '
            'measured; `--only SECTION` re-measures one and keeps the others:', '']
    head += report.when_table(blocks) + [
        '', 'Blocks marked `<!-- bench:manual NAME -->` in the source are hand-written (one-off '
        'commands, which they name) and kept by every run.', '',
        '## The machine (at the latest run)', ''] + machine + [
        f'- Load average at the end: {load}', '', INTRO, THREADS_NOTE]
    text = report.assemble('\n'.join(head), report.merge_headline(
        old, headline(data), [name for name, _, _ in measured], SECTIONS), blocks)
    atomic_write(args.out, text)
    if args.json:
        atomic_write(args.json, json.dumps(data, indent=1, default=float))
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':  # SIGTERM / Ctrl-C: one line, exit 143 / 130, nothing half-made
    from video_perception.tools.cli_common import run_stoppable
    sys.exit(run_stoppable('bench', main))
