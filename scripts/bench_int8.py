"""INT8 benchmarks (docs/BENCHMARKS.md section 8, ``scripts/bench.py --only int8``), each fp32 /
int8 pair in one run. ``bench.py`` calls ``bench_int8_section``; the sub-commands run one part:

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


def int8_bundle(fp32: str, calib: str, frames: int) -> str:
    """An int8 copy of the fp32 bundle at ``fp32`` (latency does not depend on the scales),
    cached beside it under a key of the quantiser's source, so a changed quantiser re-quantises."""
    import hashlib
    import training.calibration
    import training.quantize
    key = hashlib.sha256(b''.join(open(m.__file__, 'rb').read() for m in (
        training.quantize, training.calibration))).hexdigest()[:10]
    from video_perception.outdir import output_dir
    int8 = f'{fp32}_int8_{key}'
    if not os.path.isfile(os.path.join(int8, 'model.json')):
        # renamed onto int8 only once complete, as bench_models.ensure_bundle does
        with output_dir(int8, force=True, what='bench bundle') as tmp:
            shutil.copytree(fp32, tmp, dirs_exist_ok=True)
            training.calibration.quantize_bundle(str(tmp), calib, frames, 'minmax')
    return int8


def paired_latency(cases, cache: str, calib: Dict[str, str], calib_frames: int,
                   threads: int, reps: int = 0) -> Dict[str, dict]:
    """Model time per frame through the detector, fp32 and int8 called alternately in one loop.
    ``cases``: (name, height, width, 'driving' | 'lesion', reps); ``calib``: kind -> source.
    Returns name -> {'fp32', 'int8': summary_ms, 'ratio': fp32 / int8 medians, 'size',
    'load': (before, after) 1-min load averages}."""
    from bench_models import _detector_call, _frame, ensure_bundle
    from video_perception.backends.base import BackendOptions
    from video_perception.backends.select import load_backend
    from video_perception.bundle import load_bundle
    from video_perception.families import get_family
    out = {}
    for name, h, w, kind, n in cases:
        fp32 = ensure_bundle(name, h, w, cache)
        int8 = int8_bundle(fp32, calib[kind], calib_frames)
        opts = BackendOptions(device='cpu', threads=threads)
        frame = _frame(h, w)
        dets = {}
        for label, path in (('fp32', fp32), ('int8', int8)):
            b = load_bundle(path)
            dets[label] = get_family(b.family).Detector(
                b, load_backend(b, 'onnxruntime', opts, log=lambda _: None))
        load0 = os.getloadavg()[0]
        t = measure_interleaved({k: _detector_call(d, frame) for k, d in dets.items()},
                                reps or n, 1, desc=name)
        load1 = os.getloadavg()[0]
        for d in dets.values():
            d.close()
        s = {k: summary_ms(v) for k, v in t.items()}
        out[name] = dict(s, ratio=s['fp32']['median'] / s['int8']['median'], size=f'{h}x{w}',
                         load=(load0, load1))
    return out


def latency_table(lat: Dict[str, dict]) -> str:
    rows = [[name, r['size'], fmt(r['fp32']['median']), fmt(r['int8']['median']),
             f'{r["ratio"]:.2f}x', fmt(r['fp32']['p95']), fmt(r['int8']['p95']), r['fp32']['n'],
             f'{r["load"][0]:.2f} -> {r["load"][1]:.2f}'] for name, r in lat.items()]
    return md_table(['model', 'input', 'fp32 median ms', 'int8 median ms', 'fp32 / int8',
                     'fp32 p95 ms', 'int8 p95 ms', 'n (each)', 'load average before -> after'],
                    rows)


def latency(args) -> str:
    names = args.only.split(',') if args.only else [c[0] for c in CASES]
    lat = paired_latency([c for c in CASES if c[0] in names], args.cache,
                         {'driving': args.calib_driving, 'lesion': args.calib_lesion},
                         args.calib_frames, args.threads, args.reps)
    return latency_table(lat)


def replay_pair(source: str, fp32: str, int8: str, gt: str, work: str,
                gt_video: str = '', fps: float = 0.0, latency_ms: float = 10.0,
                score_threshold: float = 0.01, lesion_thr: float = 0.0) -> Dict[str, dict]:
    """``video-perception replay`` of both bundles over ``source`` with one fixed latency
    schedule (the load of the machine cannot move the AP); precision -> the report's headline
    numbers (``AP``, ``offline_AP``, ``lesion_F1``; AP as fractions)."""
    from video_perception.eval.metrics import headline
    lat = os.path.join(work, 'latency.json')
    os.makedirs(work, exist_ok=True)
    with open(lat, 'w') as f:   # one schedule for both: the model's output is all that differs
        json.dump({'unit': 'ms', 'latencies': [float(latency_ms)]}, f)
    out = {}
    for label, bundle in (('fp32', fp32), ('int8', int8)):
        dest = os.path.join(work, label)
        cmd = [sys.executable, '-m', 'video_perception.cli', 'replay', source, '--model',
               bundle, '--out', dest, '--force', '--backend', 'onnxruntime', '--threads', '1',
               '--gt', gt, '--latency', lat, '--seed', '0', '--speed', '1',
               '--score-threshold', str(score_threshold)]
        cmd += ['--gt-video', gt_video] if gt_video else []
        cmd += ['--fps', str(fps)] if fps else []
        cmd += ['--lesion-score-thr', str(lesion_thr)] if lesion_thr else []
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        report = os.path.join(dest, 'report.json')
        if not os.path.isfile(report):
            report = os.path.join(dest, 'speed_1', 'report.json')
        with open(report) as f:
            out[label] = headline(json.load(f))
    return out


def _pct(x):
    return None if x is None else 100 * x


def accuracy(args) -> str:
    got = replay_pair(args.source, args.fp32, args.int8, args.gt, args.work, args.gt_video or '',
                      args.fps or 0.0, args.latency_ms, args.score_threshold,
                      args.lesion_thr or 0.0)
    rows = [[label, bundle, fmt(_pct(got[label]['AP'])), fmt(_pct(got[label]['offline_AP'])),
             fmt(got[label]['lesion_F1'], 3)]
            for label, bundle in (('fp32', args.fp32), ('int8', args.int8))]
    return md_table(['precision', 'bundle', 'streaming AP', 'offline AP', 'lesion F1'], rows)


SHIPPED = {'driving': 'streamnet_tiny_synth', 'lesion': 'v2i_distill_tiny_vocalfolds'}


def _cli(*args) -> None:
    subprocess.run([sys.executable, '-m', 'video_perception.cli', *map(str, args)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench_int8_section(p: dict, cache: str, threads: int, models: str, data: str):
    """``make bench``'s INT8 section: the paired latency of ``p['cases']`` and the accuracy of
    the shipped bundles, fp32 against int8 quantised as a user would (the tiny StreamNet from a
    rosbag2 of an unseen synthetic clip, seed 202; the V2I student from VocalFolds seq1, its
    training sequence), scored on the README's held-out clip (seed 101) and VocalFolds seq2.
    Returns (latency table, accuracy table, {'latency', 'accuracy'})."""
    from training.calibration import quantize_bundle
    from training.data.synth import write_image_bag
    from video_perception.eval.results import load_ground_truth
    work = tempfile.mkdtemp(prefix='int8_', dir=cache)
    try:
        bag = os.path.join(work, 'calib', 'bags', 'driving_000')
        _cli('synth', 'driving', os.path.join(work, 'calib'), '--seed', 202, '--videos', 1,
             '--frames', p['calib_clip_frames'], '--bag', 'sqlite3')
        seq1 = os.path.join(data, 'vocalfolds', 'img', 'patient1', 'seq1')
        has_vf = os.path.isdir(seq1)
        cases = [c for c in p['cases'] if c[3] == 'driving' or has_vf]
        lat = paired_latency(cases, cache, {'driving': bag, 'lesion': seq1}, p['calib_frames'],
                             threads)
        acc, rows = {}, []
        # the shipped tiny StreamNet on the README's held-out driving clip
        clip = os.path.join(work, 'eval')
        _cli('synth', 'driving', clip, '--seed', 101, '--videos', 1, '--frames', p['clip_frames'])
        gt = os.path.join(clip, 'dataset.json')
        jobs = [('driving', bag, p['acc_calib_frames'], gt, gt, '',
                 f'held-out driving, seed 101, {p["clip_frames"]} frames')]
        if has_vf:   # the V2I student on VocalFolds seq2, as the demo plays it (a rosbag2)
            vf = os.path.join(work, 'vocalfolds')
            _cli('convert', 'labelmap', os.path.join(data, 'vocalfolds'), vf, '--class-value', 4,
                 '--class-name', 'pathology', '--fps', 25)
            vgt = os.path.join(vf, 'dataset.json')
            g = load_ground_truth(vgt)
            with open(vgt) as f:
                vid = next(v['id'] for v in json.load(f)['videos'] if v['name'] == 'patient1/seq2')
            ids = g.videos[vid]
            seq2 = os.path.join(vf, 'bags', 'seq2')
            write_image_bag(seq2, [os.path.join(vf, g.images[i]['file_name']) for i in ids],
                            [g.images[i]['timestamp'] for i in ids])
            jobs.append(('lesion', seq1, p['v2i_calib_frames'], seq2, vgt, 'patient1/seq2',
                         f'VocalFolds seq2, {len(ids)} frames'))
        for kind, calib, frames, source, truth, gt_video, clip_name in jobs:
            name = SHIPPED[kind]
            fp32, int8 = os.path.join(models, name), os.path.join(work, name + '_int8')
            shutil.copytree(fp32, int8)
            quantize_bundle(int8, calib, frames, 'minmax')
            acc[name] = replay_pair(source, fp32, int8, truth, os.path.join(work, 'r_' + kind),
                                    gt_video=gt_video)
            for label in ('fp32', 'int8'):
                h = acc[name][label]
                rows.append([name, clip_name, label, fmt(_pct(h['AP'])),
                             fmt(_pct(h['offline_AP'])),
                             fmt(h['lesion_F1'], 3) if kind == 'lesion' else '-'])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = md_table(['model', 'clip', 'precision', 'streaming AP', 'offline AP', 'lesion F1'],
                     rows)
    return latency_table(lat), table, {'latency': lat, 'accuracy': acc}


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
