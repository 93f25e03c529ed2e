"""ONNX Runtime session settings on a model's graphs, measured side by side (issue 21 item 4).

Each variant is a set of SessionOptions (graph optimisation level, intra-op threads, spinning);
every repetition runs each variant's graphs once, in the order given (StreamNet: encoder.onnx
then forecast.onnx of a bundle, batch 1), on zeros of the graphs' own input shapes,
in an order rotated by one per repetition, so load from other processes hits all alike. Prints
median / p95 ms per frame and GFLOP/s from the FLOPs given (section 2's count).

  python scripts/bench_ort_settings.py B/encoder.onnx B/forecast.onnx --reps 6 --gflop 56.96
"""
from __future__ import annotations

import argparse
import time

import numpy as np

VARIANTS = {                # name -> (optimisation level, intra-op threads, allow spinning)
    'ALL t1': ('ORT_ENABLE_ALL', 1, '0'),
    'EXTENDED t1': ('ORT_ENABLE_EXTENDED', 1, '0'),
    'ALL t2 spin0': ('ORT_ENABLE_ALL', 2, '0'),
    'ALL t2 spin1': ('ORT_ENABLE_ALL', 2, '1'),
}


def sessions(graphs, level: str, threads: int, spin: str):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.add_session_config_entry('session.intra_op.allow_spinning', spin)
    return {path: ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
            for path in graphs}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('graphs', nargs='+', help='ONNX files with static input shapes')
    ap.add_argument('--reps', type=int, default=6)
    ap.add_argument('--gflop', type=float, default=0.0, help='GFLOP per frame (section 2)')
    args = ap.parse_args()
    runs = {name: sessions(args.graphs, *v) for name, v in VARIANTS.items()}
    feeds = {path: {i.name: np.zeros(i.shape, np.float32) for i in sess.get_inputs()}
             for path, sess in runs[next(iter(VARIANTS))].items()}
    names = list(runs)
    for name in names:                       # warm-up, excluded
        for role, sess in runs[name].items():
            sess.run(None, feeds[role])
    times = {name: [] for name in names}
    for r in range(args.reps):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            for role, sess in runs[name].items():
                sess.run(None, feeds[role])
            times[name].append((time.perf_counter() - t0) * 1000.0)
    print('| variant | median ms | p95 ms | min ms | GFLOP/s (median) |')
    print('|---|---|---|---|---|')
    for name in names:
        t = np.array(times[name])
        med = float(np.median(t))
        gf = f'{args.gflop / med * 1000:.1f}' if args.gflop else 'n/a'
        print(f'| {name} | {med:.1f} | {np.percentile(t, 95):.1f} | {t.min():.1f} | {gf} |')


if __name__ == '__main__':
    main()
