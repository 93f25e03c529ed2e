"""INT8 benchmarks (docs/BENCHMARKS.md, INT8 section), each fp32 / int8 pair in one run.

  python scripts/bench_int8.py groups   --bundle B --calib SRC --eval SRC [--frames N]
  python scripts/bench_int8.py latency  --calib-driving SRC --calib-lesion SRC [--reps R]
  python scripts/bench_int8.py accuracy --int8 B8 --fp32 B --gt GT [--gt-video V] SRC

``groups``: quantise one float-kept group at a time (training/quantize.py), then all of them,
then the family's default, and report the outputs' drift against the fp32 graphs on held-out
frames (scores: max |diff|; boxes: mean and max |diff| in network pixels over the anchors /
queries the fp32 graphs score >= 0.1). ``latency``: model time per frame through the detector on
ONNX Runtime CPU, fp32 and int8 interleaved call by call, medians and their ratio.
``accuracy``: ``video-perception replay`` of both bundles on the same clip with the same latency
draws (a fixed schedule, so the load of this machine cannot move the AP), streaming / offline AP
and lesion F1.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, List

import numpy as np

from bench_common import fmt, md_table, measure_interleaved, summary_ms

REF_SCORE = 0.1


def _session(path: str, threads: int = 2):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(path, opts, providers=['CPUExecutionProvider'])


def _outputs(bundle, graphs: Dict[str, str], src, indices: List[int]) -> List[Dict]:
    """{'scores' [A, C], 'boxes' [A, 4] network px} per eval frame, from the given graphs."""
    from training.calibration import forecast_feeds, image_feeds
    if bundle.family == 'streamnet':
        feeds = forecast_feeds(bundle, src, graphs['encoder'], graphs['forecast'])
        sess = _session(graphs['forecast'])
        out = []
        for f in feeds:
            p = sess.run(None, f())[0][0]                              # [A, 5 + C]
            out.append({'boxes': p[:, :4], 'scores': p[:, 4:5] * p[:, 5:]})
        return out
    sess = _session(graphs['student'])
    out = []
    for f in image_feeds(bundle, src, graphs['student']):
        logits, boxes = sess.run(None, f())
        out.append({'scores': 1 / (1 + np.exp(-logits[0])),
                    'boxes': boxes[0] * np.array([bundle.width, bundle.height] * 2)})
    return out


def drift(ref: List[Dict], got: List[Dict]) -> Dict:
    score = max(float(np.abs(r['scores'] - g['scores']).max()) for r, g in zip(ref, got))
    box = np.concatenate([np.abs(r['boxes'] - g['boxes'])[r['scores'].max(1) >= REF_SCORE]
                          for r, g in zip(ref, got)])
    return {'score_max': score, 'box_mean': float(box.mean()) if box.size else 0.0,
            'box_max': float(box.max()) if box.size else 0.0, 'boxes': int(box.shape[0])}


def groups(args) -> str:
    from training.calibration import CalibSource, forecast_feeds, image_feeds
    from training.quantize import family_float_groups, family_keep_float, quantize_graph
    from video_perception.bundle import load_bundle
    bundle = load_bundle(args.bundle)
    calib = CalibSource(args.calib, args.frames)
    ev = CalibSource(args.eval, args.eval_frames)
    ref = _outputs(bundle, bundle.graphs, ev, ev.picked)
    fam = family_float_groups(bundle.family)
    tmp = tempfile.mkdtemp(prefix='int8_groups_')
    configs = [(f'only {g}', {'only': fam[g]}) for g in fam]
    every = [p for ps in fam.values() for p in ps]
    configs += [('only layers in no group', {'keep_float': every}),
                ('all quantised (nothing kept float)', {}),
                ('default: ' + ', '.join(family_keep_float(bundle.family)) + ' float',
                 {'keep_float': [p for g in family_keep_float(bundle.family) for p in fam[g]]})]
    rows = []
    for label, kw in configs:
        graphs = {}
        for role, path in bundle.graphs.items():
            feeds = (forecast_feeds(bundle, calib, bundle.graphs['encoder'], path)
                     if role == 'forecast' else image_feeds(bundle, calib, path))
            graphs[role] = os.path.join(tmp, f'{role}.onnx')
            kept = quantize_graph(path, graphs[role], feeds, args.method,
                                  cache=os.path.join(tmp, f'{role}.ranges'), **kw)
        d = drift(ref, _outputs(bundle, graphs, ev, ev.picked))
        rows.append([label, fmt(d['score_max'], 3), fmt(d['box_mean'], 2), fmt(d['box_max'], 1),
                     d['boxes'], len(kept)])
        print(rows[-1], flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    head = (f'{bundle.variant} ({args.bundle}), calibrated on {calib.describe()["frames"]} frames '
            f'of {args.calib} ({args.method}), drift on {len(ev.picked)} frames of {args.eval}; '
            f'load {open("/proc/loadavg").read().split()[:3]}\n\n')
    return head + md_table(['quantised', 'score max abs diff', f'box mean abs diff px (ref score '
                            f'>= {REF_SCORE})', 'box max abs diff px', 'boxes', 'float nodes in '
                            'the forecast / student'], rows)


CASES = [('streamnet_tiny', 192, 320, 'driving', 30), ('streamnet_s', 600, 960, 'driving', 8),
         ('deformable_detr_r50', 512, 512, 'lesion', 6), ('detr_r50', 512, 512, 'lesion', 8)]


def latency(args) -> str:
    from bench_models import _detector_call, _frame, ensure_bundle
    from training.calibration import quantize_bundle
    from video_perception.backends.base import BackendOptions
    from video_perception.backends.select import load_backend
    from video_perception.bundle import load_bundle
    from video_perception.families import get_family
    rows = []
    names = args.only.split(',') if args.only else [c[0] for c in CASES]
    for name, h, w, kind, reps in [c for c in CASES if c[0] in names]:
        fp32 = ensure_bundle(name, h, w, args.cache)
        int8 = fp32 + '_int8'
        if not os.path.isfile(os.path.join(int8, 'model.json')):
            shutil.rmtree(int8, ignore_errors=True)
            shutil.copytree(fp32, int8 + '.partial')
            quantize_bundle(int8 + '.partial', args.calib_driving if kind == 'driving'
                            else args.calib_lesion, args.calib_frames, 'minmax')
            os.replace(int8 + '.partial', int8)
        opts = BackendOptions(device='cpu', threads=args.threads)
        frame = _frame(h, w)
        dets = {}
        for label, path in (('fp32', fp32), ('int8', int8)):
            b = load_bundle(path)
            dets[label] = get_family(b.family).Detector(
                b, load_backend(b, 'onnxruntime', opts, log=lambda _: None))
        load0 = open('/proc/loadavg').read().split()[:3]
        t = measure_interleaved({k: _detector_call(d, frame) for k, d in dets.items()},
                                args.reps or reps, 1, desc=name)
        load1 = open('/proc/loadavg').read().split()[:3]
        for d in dets.values():
            d.close()
        s = {k: summary_ms(v) for k, v in t.items()}
        ratio = s['fp32']['median'] / s['int8']['median']
        rows.append([name, f'{h}x{w}', fmt(s['fp32']['median']), fmt(s['int8']['median']),
                     f'{ratio:.2f}x', fmt(s['fp32']['p95']), fmt(s['int8']['p95']),
                     s['fp32']['n'], f'{" ".join(load0)} -> {" ".join(load1)}'])
        print(rows[-1], flush=True)
    return md_table(['model', 'input', 'fp32 median ms', 'int8 median ms', 'fp32 / int8',
                     'fp32 p95 ms', 'int8 p95 ms', 'n (each)', 'loadavg before -> after'], rows)


def accuracy(args) -> str:
    lat = os.path.join(args.work, 'latency.json')
    os.makedirs(args.work, exist_ok=True)
    with open(lat, 'w') as f:   # one schedule for both: the model's output is all that differs
        json.dump({'unit': 'ms', 'latencies': [float(args.latency_ms)]}, f)
    rows = []
    for label, bundle in (('fp32', args.fp32), ('int8', args.int8)):
        out = os.path.join(args.work, label)
        cmd = [sys.executable, '-m', 'video_perception.cli', 'replay', args.source, '--model',
               bundle, '--out', out, '--force', '--backend', 'onnxruntime', '--threads', '1',
               '--gt', args.gt, '--latency', lat, '--seed', '0', '--speed', '1']
        cmd += ['--gt-video', args.gt_video] if args.gt_video else []
        cmd += ['--fps', str(args.fps)] if args.fps else []
        cmd += ['--score-threshold', str(args.score_threshold)]
        cmd += ['--lesion-score-thr', str(args.lesion_thr)] if args.lesion_thr else []
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        from video_perception.eval.metrics import headline
        report = os.path.join(out, 'report.json')
        if not os.path.isfile(report):
            report = os.path.join(out, 'speed_1', 'report.json')
        h = headline(json.load(open(report)))
        rows.append([label, bundle, fmt(100 * h['AP'] if h['AP'] is not None else None, 1),
                     fmt(100 * h['offline_AP'] if h['offline_AP'] is not None else None, 1),
                     fmt(h['lesion_F1'], 3)])
        print(rows[-1], flush=True)
    return md_table(['precision', 'bundle', 'streaming AP', 'offline AP', 'lesion F1'], rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog='bench_int8.py')
    sub = p.add_subparsers(dest='cmd', required=True)
    g = sub.add_parser('groups')
    g.add_argument('--bundle', required=True)
    g.add_argument('--calib', required=True)
    g.add_argument('--eval', required=True)
    g.add_argument('--frames', type=int, default=60)
    g.add_argument('--eval-frames', type=int, default=12)
    g.add_argument('--method', default='minmax')
    la = sub.add_parser('latency')
    la.add_argument('--calib-driving', required=True)
    la.add_argument('--calib-lesion', required=True)
    la.add_argument('--calib-frames', type=int, default=8)
    la.add_argument('--cache', default='runs/bench_cache')
    la.add_argument('--threads', type=int, default=1)
    la.add_argument('--reps', type=int, default=0)
    la.add_argument('--only', default='')
    a = sub.add_parser('accuracy')
    a.add_argument('source')
    for k in ('--fp32', '--int8', '--gt'):
        a.add_argument(k, required=True)
    a.add_argument('--gt-video')
    a.add_argument('--fps', type=float)
    a.add_argument('--work', default='runs/int8_accuracy')
    a.add_argument('--latency-ms', type=float, default=10.0)
    a.add_argument('--score-threshold', type=float, default=0.01)
    a.add_argument('--lesion-thr', type=float)
    p.add_argument('--out', help='append the markdown here')
    args = p.parse_args(argv)
    text = {'groups': groups, 'latency': latency, 'accuracy': accuracy}[args.cmd](args)
    print(text)
    if getattr(args, 'out', None):
        with open(args.out, 'a') as f:
            f.write(text + '\n\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
