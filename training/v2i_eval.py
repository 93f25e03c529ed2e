"""Evaluate V2I teachers and students: COCO AP and lesion F1 under both protocols (§6.3).

* AP / AP50 / AP75 via ``video_perception.eval.coco_ap.evaluate_coco`` (pycocotools), top 100.
* Precision / recall / F1 / F2 via ``video_perception.eval.lesion.lesion_metrics`` under the
  ``centroid`` (Bernal / STFT) and ``iou`` (YONA) protocols at a score threshold (the paper gives
  none for DETR outputs: 0.5 by default, and the threshold of best F1 chosen on a *validation*
  split can be passed in, never one tuned on the test split), plus the best-F1 over thresholds.

Command line (after training)::

    python -m training.v2i_eval EXP CHECKPOINT [key=value ...] [--split test] [--out F.json]
    python -m training.v2i_eval --latency [--size 512] [--tiny-only]
    python -m training.v2i_eval --table runs/v2i_results/*.json

The first evaluates a checkpoint of experiment EXP on its ``val`` or ``test`` split; with
``--split test`` the F1 threshold is the best-F1 threshold of the ``val`` split. The second times
the teacher (3 frames) and each student (1 frame) side by side in one process.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Callable, Dict, Optional

import numpy as np
import torch
from torch import nn

from training.models.detr.postprocess import postprocess
from training.data.v2i import V2IClips, collate_v2i
from video_perception.eval.coco_ap import evaluate_coco
from video_perception.eval.lesion import frames_from, lesion_metrics
from video_perception.eval.results import load_ground_truth, result_rows


def ground_truth_of(dataset: V2IClips):
    """The GT restricted to the dataset's key frames (its selected videos)."""
    ids = set(dataset.image_ids())
    data = dataset.ds.data
    sub = {'videos': [v for v in data['videos'] if v['id'] in dataset.video_ids],
           'images': [im for im in data['images'] if im['id'] in ids],
           'annotations': [a for a in data['annotations'] if a['image_id'] in ids],
           'categories': data['categories']}
    return load_ground_truth(sub)


@torch.no_grad()
def predict(model: nn.Module, dataset: V2IClips, video: bool, batch_size: int = 4,
            top_k: int = 100) -> Dict[int, np.ndarray]:
    """image id -> [N, 6] (x, y, w, h, score, category_id) in original pixels."""
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=0,
                                         collate_fn=collate_v2i)
    kind = getattr(model, 'output_kind', 'detr_sigmoid')
    dets: Dict[int, np.ndarray] = {}
    for batch in loader:
        masks = batch['masks'].to(device)
        x = batch['clips' if video else 'images'].to(device)
        out = model(x, masks)
        sizes = torch.stack([t['size'] for t in batch['targets']])
        res = postprocess(out['pred_logits'].float().cpu(), out['pred_boxes'].float().cpu(),
                          kind, sizes, top_k)
        for r, t in zip(res, batch['targets']):
            dets[int(t['image_id'])] = result_rows(r['boxes'].numpy(), r['scores'].numpy(),
                                                   r['labels'].numpy(), dataset.class_ids,
                                                   t['scale'])
    model.train(was)
    return dets


def metrics_of(gt, dets: Dict[int, np.ndarray], score_thr: float = 0.5,
               image_ids=None) -> Dict[str, float]:
    """AP, AP50, AP75, per protocol P/R/F1/F2 at ``score_thr``, best F1 and its threshold (on
    ``image_ids`` only when given)."""
    stats = evaluate_coco(gt, dets, image_ids).stats
    out = {'AP': stats['AP'], 'AP50': stats['AP50'], 'AP75': stats['AP75']}   # BUV: Table II
    for proto in ('centroid', 'iou'):
        m = lesion_metrics(frames_from(gt, dets, image_ids), proto, score_thr)
        for key in ('precision', 'recall', 'f1', 'f2'):
            out[f'{key}_{proto}'] = m[key]
        out[f'best_f1_{proto}'] = m['best_f1']
        out[f'best_f1_thr_{proto}'] = m['best_f1_threshold']
    out['score_thr'] = float(score_thr)
    return out


def make_evaluator(dataset: V2IClips, video: bool, score_thr: float = 0.5,
                   batch_size: int = 4) -> Callable[[nn.Module], Dict[str, float]]:
    """The engine's ``evaluator(model) -> metrics`` on ``dataset``."""
    gt = ground_truth_of(dataset)

    def evaluate(model: nn.Module) -> Dict[str, float]:
        return metrics_of(gt, predict(model, dataset, video, batch_size), score_thr)
    return evaluate


# ---- latency --------------------------------------------------------------------------------

@torch.no_grad()
def time_forward(fn: Callable[[], object], warmup: int = 1, iters: int = 3) -> float:
    """Median seconds of ``fn()`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def latency_table(size: int = 512, tiny_only: bool = False, iters: int = 3) -> Dict[str, Dict]:
    """Per-frame CPU latency of the teacher (a 3-frame clip per output) and the students, all
    measured in this one process, one after the other, batch 1, ``size`` x ``size``."""
    from training.models.detr import zoo
    rows: Dict[str, Dict] = {}
    groups = [('tiny', ['v2i_teacher_tiny', 'deformable_detr_tiny', 'detr_tiny',
                        'sam_detr_tiny'])]
    if not tiny_only:
        groups.append(('r50', ['v2i_teacher_r50', 'deformable_detr_r50', 'detr_r50',
                               'sam_detr_r50']))
    gen = torch.Generator().manual_seed(0)
    for _, names in groups:
        teacher_s = None
        for name in names:
            torch.manual_seed(0)
            model = zoo.build(name, 1).eval()
            video = name.startswith('v2i_teacher')
            shape = (1, 3, 3, size, size) if video else (1, 3, size, size)
            x = torch.randn(*shape, generator=gen)
            sec = time_forward(lambda m=model, x=x: m(x, None), iters=iters)
            if video:
                teacher_s = sec
            rows[name] = {'seconds': sec, 'ms': sec * 1e3,
                          'teacher_over_this': (teacher_s / sec) if teacher_s else None}
    return rows


def markdown_table(paths) -> str:
    """One row per result JSON of ``--out``: test AP / AP50 and F1 under both protocols at
    0.5 and at the validation split's best-F1 (centroid) threshold."""
    head = ('| run | AP | AP50 | AP75 | F1 centroid @0.5 | F1 IoU @0.5 | thr (val) | '
            'F1 centroid @thr | F1 IoU @thr | best F1 centroid / IoU (oracle, test) |')
    rows = [head, '|' + '---|' * 10]
    for path in paths:
        with open(path, encoding='utf-8') as f:
            r = json.load(f)
        a, b = r['test@0.5'], r['test@val_thr']
        ap75 = a.get('AP75', float('nan'))         # result files from before AP75
        rows.append(f"| {r['exp']} | {a['AP']:.3f} | {a['AP50']:.3f} | {ap75:.3f} "
                    f"| {a['f1_centroid']:.3f} | {a['f1_iou']:.3f} | {b['score_thr']:.2f} | "
                    f"{b['f1_centroid']:.3f} | "
                    f"{b['f1_iou']:.3f} | {a['best_f1_centroid']:.3f} / "
                    f"{a['best_f1_iou']:.3f} |")
    return '\n'.join(rows)


def _evaluate_checkpoint(args) -> int:
    import dataclasses
    from training.engine.checkpoint import load_checkpoint, model_weights_from
    from training.engine.config import apply_overrides
    from training.engine.exp import load_exp
    exp_cls = load_exp(args.exp)
    exp = exp_cls(apply_overrides(exp_cls.config, args.overrides))
    train = exp.dataset('train')
    model = exp.build_model(train)
    model.load_state_dict(model_weights_from(load_checkpoint(args.checkpoint)), strict=True)
    val = exp.dataset('val', train)
    video = exp.is_teacher
    result = {'exp': args.exp, 'checkpoint': args.checkpoint}
    val_metrics = metrics_of(ground_truth_of(val), predict(model, val, video), 0.5)
    result['val'] = val_metrics
    if args.split == 'test':
        test = exp.dataset('test', train)
        gt, dets = ground_truth_of(test), predict(model, test, video)
        result['test@0.5'] = metrics_of(gt, dets, 0.5)
        thr = val_metrics['best_f1_thr_centroid']
        result['test@val_thr'] = metrics_of(gt, dets, thr)
        # benchmarks that mark hard frames (synth lesion_ambiguous: 'faded') are also scored
        # on those frames alone: where one frame cannot show the lesion and a clip can
        faded = {a['image_id'] for a in test.ds.data['annotations'] if a.get('faded')}
        faded &= set(gt.images)
        if faded:
            result['test_faded@0.5'] = metrics_of(gt, dets, 0.5, faded)
    result['config'] = dataclasses.asdict(exp.cfg)
    text = json.dumps(result, indent=1, default=str)
    if args.out:
        from video_perception.eval.results import write_json_atomic
        write_json_atomic(args.out, result)
    print(text)
    return 0


def main(argv: Optional[list] = None) -> int:
    p = argparse.ArgumentParser(prog='python -m training.v2i_eval', description=__doc__.split(
        '\n')[0])
    p.add_argument('exp', nargs='?', help='experiment name (training/exps) or file')
    p.add_argument('checkpoint', nargs='?', help='checkpoint of that experiment')
    p.add_argument('overrides', nargs='*', metavar='key=value')
    p.add_argument('--split', choices=('val', 'test'), default='val')
    p.add_argument('--out', help='write the metrics JSON here')
    p.add_argument('--latency', action='store_true', help='time teacher vs students')
    p.add_argument('--size', type=int, default=512)
    p.add_argument('--tiny-only', action='store_true')
    p.add_argument('--table', nargs='+', metavar='JSON', help='markdown table of --out files')
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.table:
            print(markdown_table(args.table))
            return 0
        if args.latency:
            torch.set_num_threads(max(1, torch.get_num_threads()))
            print(json.dumps(latency_table(args.size, args.tiny_only), indent=1))
            return 0
        if not (args.exp and args.checkpoint):
            raise ValueError('expected EXP and CHECKPOINT (or --latency)')
        return _evaluate_checkpoint(args)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f'v2i_eval: {str(exc).splitlines()[0]}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
