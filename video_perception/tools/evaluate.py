"""``video-perception evaluate GT RESULTS --mode offline|streaming|kstep``: score a results file.

Streaming mode with ``--forecast kalman`` scores each GT frame against Streamer's forecast made
for it from the outputs finished by then (tracks and a Kalman filter, ``streaming.offline``; the
toolkit's forecasting step run offline on a results file made elsewhere).

Streaming mode reports, beside sAP, the deadline-miss rate (outputs finished after the next
frame arrived) and the share of GT frames served a stale output (``eval.streaming``).
Prints a markdown table; ``--out REPORT.json`` writes the JSON report and REPORT.md beside it;
``--plots DIR`` writes pr_curves.png (and latency.png with finish times, sap_k.png with
``--sweep``); ``--frames DIR`` writes annotated frames and clip.mp4 of one video. Bad input: one
line on stderr, exit status 2.

Only the GT videos the results cover are scored (``eval.coverage``: the videos of the file's
``outputs``), said in one line on stderr and in the report's ``coverage``. A results file that
names its categories (replay writes ``categories``) is put in line with the GT by name, and
``--class-map FILE`` (model class name -> GT category name, ``eval.categories``) renames; model
classes the GT lacks are dropped (the report's ``classes`` names them) and a GT category no class
maps to scores AP 0, with a one-line warning.
"""
from __future__ import annotations

import argparse
import contextlib
import pathlib
import sys

from video_perception.eval import metrics
from video_perception.eval.categories import load_class_map, results_on_gt
from video_perception.eval.coverage import covered_ground_truth
from video_perception.eval.kstep import K_RANGE
from video_perception.eval.lesion import PROTOCOLS
from video_perception.eval.report import build_report, markdown_table, write_report
from video_perception.eval.results import load_ground_truth, load_results
from video_perception.outdir import check_apart, check_writable, error_line, output_dir
from video_perception.tools.cli_common import OneLineArgumentParser
from video_perception.validate import arg_fraction, arg_natural, arg_positive

PROG = 'video-perception evaluate'
FRAMES_HINT = 'remove it or name another'


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    p.add_argument('gt', help='ground truth: CocoVID JSON (or a folder with dataset.json)')
    p.add_argument('results', help='results file ({"outputs", "detections"} or a COCO list)')
    p.add_argument('--mode', choices=metrics.MODES, default='offline')
    p.add_argument('--forecast', choices=('none', 'kalman'), default='none',
                   help='streaming: score each GT frame against the Kalman forecast made for '
                        "it from the outputs finished by then (Streamer's forecasting step)")
    p.add_argument('--forecast-offset', type=arg_natural, default=0,
                   help='--forecast: the boxes of an output describe its input frame + this '
                        'many periods (1 for a StreamNet bundle that forecasts t+1)')
    p.add_argument('--k', type=arg_natural, default=1, help='kstep: score output t against GT t+K')
    p.add_argument('--sweep', action='store_true', help=f'also sAP_K for K = {list(K_RANGE)}')
    p.add_argument('--class-map', default=None,
                   help='YAML/JSON: model class name -> GT category name (e.g. person: '
                        'pedestrian); needs a results file that names its categories')
    p.add_argument('--bdd-plus-one', action='store_true',
                   help="BDD100K's convention: +1 pixel on predicted width and height")
    p.add_argument('--fps', type=arg_positive, default=None,
                   help='frame rate for images without timestamp (t = frame_id / fps)')
    p.add_argument('--lesion-protocol', choices=PROTOCOLS, default=None,
                   help='also lesion P/R/F1/F2 (v2i_detr.md 6.3)')
    p.add_argument('--score-thr', type=arg_fraction, default=0.5, help='lesion score threshold')
    p.add_argument('--negative-frames', choices=('count', 'skip'), default='count',
                   help='lesion: detections on frames without lesions are FPs, or skipped')
    p.add_argument('--out', default=None, help='REPORT.json (REPORT.md is written beside it)')
    p.add_argument('--plots', default=None, help='folder for PNG plots')
    p.add_argument('--frames', default=None, help='folder for annotated frames and clip.mp4')
    p.add_argument('--video-id', default=None, help='--frames: which video (default the first)')
    p.add_argument('--draw-thr', type=arg_fraction, default=0.3, help='--frames: score to draw')
    return p


def _warn(line: str) -> None:
    print(f'{PROG}: warning: {line}', file=sys.stderr)


def run(args, warn=_warn) -> dict:
    """Evaluates as the parsed arguments say; returns the report (``warn``: one line each)."""
    class_map = load_class_map(args.class_map) if args.class_map else None
    gt = load_ground_truth(args.gt)
    results = load_results(args.results)
    gt, coverage = covered_ground_truth(gt, results)
    results, mapping = results_on_gt(results, gt.dataset['categories'], class_map,
                                     gt.dataset['annotations'], args.class_map)
    for line in (mapping.warnings() if mapping else []) + ([coverage.line()] if coverage else []):
        warn(line)
    forecast = None
    if args.forecast == 'kalman':
        from video_perception.streaming.offline import Forecaster
        forecast = Forecaster(offset_frames=args.forecast_offset)
    scored = metrics.score_mode(args.mode, gt, results, args.k, args.fps, args.bdd_plus_one,
                                forecast)
    coco, paired, latencies, extra = scored.coco, scored.paired, scored.latencies, scored.extra
    if mapping is not None:
        extra['classes'] = mapping.report()
    if coverage is not None:
        extra['coverage'] = coverage.report()
    if args.sweep:
        extra['sap_k'] = metrics.compute('sap_k', scored, ks=K_RANGE)
    if args.lesion_protocol:
        extra['lesion'] = metrics.compute('lesion', scored, protocol=args.lesion_protocol,
                                          score_thr=args.score_thr,
                                          negative_frames=args.negative_frames)
    report = build_report(args.mode, coco, bdd_plus_one=bool(args.bdd_plus_one), **extra)
    vid = args.video_id
    if args.frames and vid is not None and gt.videos is not None:
        if coverage is not None and str(vid) in map(str, coverage.left_out):
            raise ValueError(f'--video-id {vid}: the results do not cover that video')
        vid = next((v for v in gt.videos if str(v) == str(vid)), vid)
    # --frames is rendered into a hidden partial folder, renamed onto it once complete (a
    # released writer's short MP4 looks whole); the plots are drawn last inside that, and moved
    # into --plots together: a stop anywhere leaves neither, and the --plots folder as it was
    frames = (output_dir(args.frames, what='--frames folder', hint=FRAMES_HINT) if args.frames
              else contextlib.nullcontext())
    with frames as tmp:
        if args.frames:
            from video_perception.eval.video import render_clip
            root = pathlib.Path(args.gt)
            render_clip(gt, paired, root if root.is_dir() else root.parent, tmp, vid,
                        args.draw_thr)
        if args.plots:
            from video_perception.eval import plots
            plots.plot_report(args.plots, coco, latencies, extra.get('sap_k'), args.mode,
                              series=pathlib.Path(args.results).stem)
    return report


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.out:  # REPORT.json and REPORT.md beside it
            check_apart({'--out': args.out,
                         '--out (its .md)': str(pathlib.Path(args.out).with_suffix('.md'))},
                        {'GT': args.gt, 'RESULTS': args.results, '--class-map': args.class_map})
        if args.frames:  # refused before the scoring, not after it
            check_writable(args.frames, False, '--frames folder', FRAMES_HINT)
        report = run(args)
        if args.out:
            write_report(args.out, report)
    except (ValueError, OSError, KeyError) as e:
        print(f'{PROG}: error: {error_line(e, args.out)}', file=sys.stderr)
        return 2
    print(markdown_table(report), end='')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
