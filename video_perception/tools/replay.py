"""``video-perception replay SOURCE --model BUNDLE --out DIR``: a source through a detector as on
the vehicle.

SOURCE is a rosbag2 (sqlite3 or mcap), an image folder, a video file or a canonical dataset JSON
(``video_perception.sources``). Frames arrive at their stamps; the detector is busy for its
latency (``--latency measured``: each run's wall time; or fixed seconds; times ``--speed``) and
takes the newest frame when it is free, dropping the rest (``replay.simulate``).

DIR receives:

* ``results.json``: the results file of ``evaluate`` (finish times on the dataset's clock with
  ground truth, else on the input's clock; ids are GT image ids, else dataset ids or positions);
* ``report.json``, ``report.md`` and ``plots/`` when there is ground truth (``--gt``, or a dataset
  SOURCE with annotations): streaming AP, offline AP, sAP_1..6, lesion F1, latency;
* ``bag/``: a rosbag2 (the input's storage, else ``--storage``) with ``/detections``,
  ``/detections/labels`` and, with ``--save-images``, ``/detections/image``, header stamps and
  receive times on the input's clock;
* ``replay.mp4`` with ``--video``: every frame with what the vehicle had at that moment.

Nothing is written half: everything goes into ``DIR.tmp-PID`` which is renamed to DIR at the end
(an existing DIR is refused unless ``--force``); on any error the temporary folder is removed,
one line goes to stderr and the exit status is 2.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import sys

from video_perception.tools.cli_common import OneLineArgumentParser

PROG = 'video-perception replay'


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    p.add_argument('source', help='rosbag2, image folder, video file or dataset JSON')
    p.add_argument('--model', required=True, help='model bundle folder (model.json + ONNX)')
    p.add_argument('--out', required=True, help='output folder (must not exist, or --force)')
    p.add_argument('--gt', default=None, help='ground truth: canonical dataset JSON')
    p.add_argument('--gt-video', default=None,
                   help='the GT video (id or name) the source is, when the GT has several')
    p.add_argument('--latency', default='measured',
                   help="'measured' (each run's wall time) or fixed seconds, e.g. 0.05")
    p.add_argument('--speed', type=float, default=1.0,
                   help='latency factor: 2.0 simulates hardware twice as slow')
    p.add_argument('--topic', default=None, help='image topic of a bag with several')
    p.add_argument('--fps', type=float, default=None,
                   help='frame rate of an image folder (default 30) or to override a video')
    p.add_argument('--backend', choices=('auto', 'onnxruntime', 'torch', 'tensorrt'),
                   default='auto')
    p.add_argument('--threads', type=int, default=0, help='CPU threads (0: runtime default)')
    p.add_argument('--score-threshold', type=float, default=None,
                   help="detector score threshold (default: the node's)")
    p.add_argument('--save-images', action='store_true', help='annotated images in the bag')
    p.add_argument('--video', action='store_true', help='write DIR/replay.mp4')
    p.add_argument('--storage', choices=('sqlite3', 'mcap'), default=None,
                   help='output bag storage (default: the input bag\'s, else sqlite3)')
    p.add_argument('--lesion-protocol', choices=('centroid', 'iou'), default='centroid')
    p.add_argument('--lesion-score-thr', type=float, default=0.5)
    p.add_argument('--force', action='store_true', help='replace an existing DIR')
    return p


def _frame_period_s(run) -> float | None:
    import numpy as np
    stamps = np.array([f.stamp_ns for f in run.frames], np.int64)
    steps = np.diff(stamps)
    steps = steps[steps > 0]
    return float(np.median(steps)) / 1e9 if steps.size else None


def replay(args, tmp: pathlib.Path) -> list[tuple[str, str]]:
    """Does the work into ``tmp``; returns the summary rows."""
    from tqdm import tqdm

    from video_perception import bagio
    from video_perception.backends.base import BackendOptions
    from video_perception.detector import load_detector
    from video_perception.eval import plots
    from video_perception.eval.report import write_report
    from video_perception.eval.results import save_results
    from video_perception.replay import matching, outputs, scoring
    from video_perception.replay.engine import LatencyModel, run_replay
    from video_perception.sources import open_source

    latency = LatencyModel.parse(args.latency, args.speed)
    source = open_source(args.source, args.topic, args.fps)
    gt, source_is_gt = None, False
    if args.gt is not None:
        gt = matching.load_gt(args.gt)
        source_is_gt = (source.kind == 'dataset' and pathlib.Path(args.gt).resolve() in
                        (source.path.resolve(), source.path.parent.resolve()))
    elif source.kind == 'dataset' and source.dataset.data['annotations']:
        gt, source_is_gt = matching.load_gt(source.path), True
    thresholds = {} if args.score_threshold is None else {'score_threshold':
                                                          args.score_threshold}
    detector = load_detector(args.model, args.backend, BackendOptions(threads=args.threads),
                             log=lambda s: print(f'replay: {s}'), **thresholds)
    pixel_format = detector.bundle.pixel_format
    cat_ids = matching.category_map(detector.class_names, gt)

    storage = args.storage or source.storage or 'sqlite3'
    bar = tqdm(total=source.count, desc='replay', unit='frame', disable=None)

    def progress(run):
        bar.update(1)
        bar.set_postfix(processed=len(run.outputs), dropped=run.dropped, refresh=False)
    try:
        with bagio.write_bag(tmp / 'bag', storage=storage) as writer:
            sink = outputs.BagOutput(writer, detector.class_names, pixel_format,
                                     args.save_images, detector.score_threshold)
            run = run_replay(source.frames(), detector, latency, pixel_format, sink, progress)
    finally:
        bar.close()
        detector.close()
    if not run.frames:
        raise ValueError(f'source {args.source}: no frames')

    report, left_out = None, 0
    info = {'source': str(args.source), 'model': str(args.model),
            'latency': args.latency, 'speed': args.speed, 'frames': len(run.frames),
            'processed': len(run.outputs), 'dropped': run.dropped, 'bad_frames': run.bad,
            'streams': run.streams}
    if gt is not None:
        match = matching.match_frames([f.stamp_ns for f in run.frames], gt,
                                      [f.image_id for f in run.frames], source_is_gt,
                                      args.gt_video, source.path)
        results, left_out = outputs.build_results(run, cat_ids, match.frame_to_image, gt)
        gt_used = matching.restrict_gt(gt, match.videos, match.frame_to_image.values())
        info.update(match=match.method, matched_frames=len(match.frame_to_image),
                    outputs_without_gt=left_out)
        report, coco, latencies, sap_k = scoring.score(
            gt_used, results, args.lesion_protocol, args.lesion_score_thr, **info)
        write_report(tmp / 'report.json', report)  # and report.md beside it
        plots.plot_report(tmp / 'plots', coco, latencies, sap_k,
                          frame_period_s=_frame_period_s(run))
    else:
        results, _ = outputs.build_results(run, cat_ids)
    save_results(tmp / 'results.json', results)
    if args.video:
        fps = source.fps or (1.0 / _frame_period_s(run) if _frame_period_s(run) else 30.0)
        outputs.write_video(source, run, tmp / 'replay.mp4', detector.class_names, fps,
                            detector.score_threshold)
    return outputs.summary_rows(run, report)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from video_perception.backends.base import BackendError
    out = pathlib.Path(args.out)
    if out.exists() and not args.force:
        print(f'{PROG}: error: --out {out} already exists (remove it or pass --force)',
              file=sys.stderr)
        return 2
    tmp = out.parent / f'{out.name}.tmp-{os.getpid()}'
    try:
        tmp.mkdir(parents=True)
        rows = replay(args, tmp)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except (ValueError, OSError, KeyError, BackendError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        text = str(e).strip().splitlines()
        print(f'{PROG}: error: {text[0] if text else type(e).__name__}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f'{PROG}: interrupted; nothing written', file=sys.stderr)
        return 130
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    from video_perception.eval.report import markdown
    print(markdown(('quantity', 'value'), rows))
    print(f'replay: wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
