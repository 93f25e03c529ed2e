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
import bench_report as report
from bench_common import atomic_write, machine_lines, matmul_peak, no_ort_spinning
from bench_goals import headline, int8_goal_lines, multicam_bullets
from bench_models import (ModelCase,
                          bench_history, bench_latency, bench_v2i)
from bench_texts import INTRO, TEXT, THREADS_NOTE   # the report's fixed prose

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
