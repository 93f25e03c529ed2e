"""Streamer evidence on real motion (issue 20, item 5a): the BDD100K evaluation case in
../shared/data/bdd100k_eval_case (a real detector's 5,372 boxes on one real 5 fps driving video of
202 frames) served by a simulated single worker at fixed runtimes of 0.5, 1.5 and 2.5 frame
periods, scored three ways: plain streaming AP, with Streamer's Kalman forecasting, and with
forecasting + the shrinking-tail schedule::

    python scripts/evidence_streamer.py --out runs/streamer_bdd   # results files + the table
    video-perception evaluate GT runs/streamer_bdd/r1.5_immediate.json --mode streaming \\
        --fps 5 --bdd-plus-one --forecast kalman   # GT: the case's cocoformat_*.json

The worker is the replay's own simulator (``replay.simulate.schedule``, integer ns; with
``streaming.schedule.ShrinkingTail`` as its wait rule); each results file holds what the worker
output and when, and every number of the table is what ``video-perception evaluate`` prints for
that file (``--mode streaming --fps 5 --bdd-plus-one``, with ``--forecast kalman`` for the
forecast columns; the script calls the same code in-process).
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CASE = REPO.parent / 'shared' / 'data' / 'bdd100k_eval_case'
FPS = 5.0
PERIOD_NS = 200_000_000
RUNTIMES = (0.5, 1.5, 2.5)       # frame periods
# off the frame lattice: 1.5 x 2 = 3.0 lands an output exactly on a frame's arrival, which the
# streaming pairing (finish <= t) then uses; these show the rule without such ties
EXTRA = (1.4, 1.6)


def load_case():
    """GT (COCO-video, no timestamps: frame_id / 5 s) and every frame's detections (Scalabel
    x1, y1, x2, y2 -> x, y, w, h) keyed by image id."""
    gt = json.loads((CASE / 'cocoformat_track_sample_annotations.json').read_text())
    preds = json.loads((CASE / 'bbox_predictions.json').read_text())
    name_to_id = {im['file_name']: im['id'] for im in gt['images']}
    cat = {c['name']: c['id'] for c in gt['categories']}
    dets: dict = {}
    for p in preds:
        x1, y1, x2, y2 = p['bbox']
        dets.setdefault(name_to_id[p['name']], []).append(
            {'input_image_id': name_to_id[p['name']], 'category_id': cat[p['category']],
             'bbox': [x1, y1, x2 - x1, y2 - y1], 'score': p['score']})
    return gt, dets


def served(gt, dets, runtime_frames: float, shrinking_tail: bool) -> dict:
    """The results file of one worker: the frames it took and when each output finished."""
    from video_perception.replay.simulate import schedule
    from video_perception.streaming.schedule import ShrinkingTail
    images = sorted(gt['images'], key=lambda im: im['frame_id'])
    arrivals = [im['frame_id'] * PERIOD_NS for im in images]
    runtime = int(round(runtime_frames * PERIOD_NS))
    tail = ShrinkingTail() if shrinking_tail else None
    run = (lambda j: runtime) if tail is None else tail.timed(lambda j: runtime)
    runs, _ = schedule(arrivals, run, None if tail is None else tail.simulator_wait(PERIOD_NS))
    outputs, rows = [], []
    for p in runs:
        iid = images[p.item]['id']
        outputs.append({'input_image_id': iid, 'finish_time': p.finish_ns / 1e9})
        rows += dets.get(iid, [])
    return {'outputs': outputs, 'detections': rows}


def streaming_ap(gt_path, results_path, forecast: bool, key: str = 'AP') -> float:
    """What ``video-perception evaluate GT RESULTS --mode streaming --fps 5 --bdd-plus-one
    [--forecast kalman]`` reports as AP (or as ``key``)."""
    from video_perception.tools import evaluate
    args = [str(gt_path), str(results_path), '--mode', 'streaming', '--fps', '5',
            '--bdd-plus-one'] + (['--forecast', 'kalman'] if forecast else [])
    return evaluate.run(evaluate.build_parser().parse_args(args), warn=lambda line: None)[key]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True, help='folder for the results files')
    args = ap.parse_args(argv)
    if not CASE.is_dir():
        print(f'evidence_streamer: {CASE} not found', file=sys.stderr)
        return 2
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gt, dets = load_case()
    gt_path = CASE / 'cocoformat_track_sample_annotations.json'
    every = served(gt, dets, 0.0, False)
    (out / 'r0_immediate.json').write_text(json.dumps(every))
    zero = out / 'r0_immediate.json'
    plain0, fc0 = streaming_ap(gt_path, zero, False), streaming_ap(gt_path, zero, True)
    print(f'zero runtime (every frame): streaming AP {100 * plain0:.2f}, '
          f'with forecasting {100 * fc0:.2f}')
    print('| runtime (frames) | processed | mean lag | plain | + Kalman forecast | factor | '
          'shrinking tail: processed | mean lag | plain | forecast + shrinking tail | factor |')
    print('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for r in RUNTIMES + EXTRA:
        cells = []
        for tail in (False, True):
            path = out / f"r{r:g}_{'shrinking_tail' if tail else 'immediate'}.json"
            results = served(gt, dets, r, tail)
            path.write_text(json.dumps(results))
            cells.append((len(results['outputs']),
                          streaming_ap(gt_path, path, False, 'mean_lag_frames'),
                          streaming_ap(gt_path, path, False), streaming_ap(gt_path, path, True)))
        (n0, lag0, plain, fc), (n1, lag1, plain_st, fc_st) = cells
        print(f'| {r:g} | {n0}/202 | {lag0:.2f} | {100 * plain:.2f} | {100 * fc:.2f} | '
              f'{fc / plain:.2f}x | {n1}/202 | {lag1:.2f} | {100 * plain_st:.2f} | '
              f'{100 * fc_st:.2f} | {fc_st / plain:.2f}x |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
