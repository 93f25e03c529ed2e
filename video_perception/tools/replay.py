"""``video-perception replay SOURCE --model BUNDLE --out DIR``: a source through a detector as on
the vehicle.

SOURCE is a rosbag2 (sqlite3 or mcap), an image folder, a video file or a canonical dataset JSON
(``video_perception.sources``). Frames arrive at their stamps; the detector is busy for its
latency (``--latency measured``: each run's wall time; fixed seconds; or a latency file, each run
drawn from it with ``--seed`` as the sAP toolkit does, ``replay.latency_model``), divided by
``--speed`` (the toolkit's perf_factor: 2 = hardware twice as fast), and takes the newest frame
when it is free, dropping the rest (``replay.simulate``). ``--cameras TOPIC,TOPIC`` replays a
bag's image topics as cameras of one batched detector (``tools.replay_multi``).

DIR receives:

* ``results.json``: the results file of ``evaluate`` (finish times on the dataset's clock with
  ground truth, else on the input's clock; ids are GT image ids, else dataset ids or positions);
* ``report.json``, ``report.md`` and ``plots/`` when there is ground truth (``--gt``, or a dataset
  SOURCE with annotations): streaming AP, offline AP, sAP_1..6, lesion F1, latency;
* ``bag/``: a rosbag2 (the input's storage, else ``--storage``) with ``/detections``,
  ``/detections/labels`` and, with ``--save-images``, ``/detections/image``, header stamps and
  receive times on the input's clock;
* ``replay.mp4`` with ``--video``: every frame with what the vehicle had at that moment;
* ``latency.json``: the wall time of every detector run in ms (a latency file: pass it to
  ``--latency`` on another machine's replay, or record one on the target hardware).

The model's classes become GT categories by name (``eval.categories``); ``--class-map FILE``
(YAML/JSON, model class name -> GT category name, e.g. ``person: pedestrian``) renames. Model
classes the GT lacks are dropped before scoring (the report's ``classes`` names them); a GT
category no class maps to scores AP 0, with a one-line warning.

A list of speeds (``--speed 0.5,1,2,4,8``) is a latency sweep (``replay.sweep``; ground truth
needed): ``speed_<s>/results.json`` and ``report.json`` per speed, ``sweep.json``/``sweep.md``
(runtime, streaming AP, offline AP, deadline-miss rate, stale share per speed) and
``plots/latency_sweep.png``, streaming AP against runtime with the offline AP of every frame as
the ceiling; no bag or video.

Streamer (Li, Wang and Ramanan 2020) around any detector: ``--forecast kalman`` scores every GT
frame against the Kalman forecast of the tracks made for its time from the outputs finished by
then (``streaming.offline``; ``results.json`` keeps the detector's outputs, each detection with
its ``track_id``, and ``evaluate --forecast kalman`` on it gives the same streaming AP);
the bag's ``/detections`` are what a ``forecast:=kalman`` node publishes: each output's tracks
forecast to the next frame after it finished, stamped at that frame, track ids as Detection2D
ids. ``--schedule shrinking-tail`` lets the simulated worker wait for the next frame when that
finishes earlier in its period (``streaming.schedule``). In a sweep each speed is also run as
the Streamer (``speed_<s>/streamer/``, ``sweep.md`` rows "<s> streamer") and the plot draws both
curves.

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

from video_perception.backends.base import BACKEND_NAMES
from video_perception.outdir import check_apart, error_line
from video_perception.streaming.stage import frames_ahead
from video_perception.tools.cli_common import OneLineArgumentParser, raise_if_stopped
from video_perception.tools.replay_common import (PROG, _classes, _frame_period_s, _run_info,
                                                  _Scorer, _write_latency_file)
from video_perception.tools.replay_sweep import sweep_into
from video_perception.validate import arg_fraction, arg_natural, arg_number, arg_positive


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    p.add_argument('source', help='rosbag2, image folder, video file or dataset JSON')
    p.add_argument('--model', required=True, help='model bundle folder (model.json + ONNX)')
    p.add_argument('--out', required=True, help='output folder (must not exist, or --force)')
    p.add_argument('--gt', default=None, help='ground truth: canonical dataset JSON')
    p.add_argument('--class-map', default=None,
                   help='YAML/JSON: model class name -> GT category name (e.g. person: '
                        'pedestrian); classes the GT lacks are dropped')
    p.add_argument('--gt-video', default=None,
                   help='the GT video (id or name) the source is, when the GT has several')
    p.add_argument('--latency', default='measured',
                   help="'measured' (each run's wall time), fixed seconds (e.g. 0.05) or a "
                        'latency file (JSON/CSV of per-frame ms, e.g. a latency.json of '
                        'replay) to draw each run from')
    p.add_argument('--speed', default='1',
                   help='hardware speed: runtime is divided by it (2 = twice as fast); a list '
                        '(0.5,1,2,4,8) runs a latency sweep')
    p.add_argument('--seed', type=arg_natural, default=0,
                   help='seed of the draws from a latency file (the same seed, the same run)')
    p.add_argument('--forecast', choices=('none', 'kalman'), default='none',
                   help="Streamer's forecasting: score each GT frame against the Kalman "
                        'forecast of the tracks made for it; detections get track ids')
    p.add_argument('--schedule', choices=('immediate', 'shrinking-tail'), default='immediate',
                   help='immediate: the free worker takes the newest frame; shrinking-tail: it '
                        'waits for the next frame when that finishes earlier in its period')
    p.add_argument('--topic', default=None, help='image topic of a bag with several')
    p.add_argument('--cameras', default=None,
                   help='image topics of a bag (TOPIC,TOPIC,...) replayed as separate cameras '
                        'through one batched detector; outputs per camera (replay_multi)')
    p.add_argument('--fps', type=arg_positive, default=None,
                   help='frame rate of an image folder (default 30) or to override a video')
    p.add_argument('--backend', choices=BACKEND_NAMES,
                   default='auto')
    p.add_argument('--threads', type=arg_number(integer=True, lo=0, hi=256), default=0,
                   help='CPU threads (0: runtime default)')
    p.add_argument('--score-threshold', type=arg_fraction, default=None,
                   help="detector score threshold (default: the node's)")
    p.add_argument('--save-images', action='store_true', help='annotated images in the bag')
    p.add_argument('--video', action='store_true', help='write DIR/replay.mp4')
    p.add_argument('--storage', choices=('sqlite3', 'mcap'), default=None,
                   help='output bag storage (default: the input bag\'s, else sqlite3)')
    p.add_argument('--lesion-protocol', choices=('centroid', 'iou'), default='centroid')
    p.add_argument('--lesion-score-thr', type=arg_fraction, default=0.5)
    p.add_argument('--force', action='store_true', help='replace an existing DIR')
    return p


def input_paths(args) -> dict:
    """What the replay reads, by flag: an output must stay apart from all of it."""
    paths = {'SOURCE': args.source, '--model': args.model, '--class-map': args.class_map}
    for i, gt in enumerate(str(args.gt).split(',') if args.gt else []):
        paths[f'--gt[{i}]' if ',' in str(args.gt) else '--gt'] = gt.strip()
    if os.path.exists(str(args.latency)):  # a latency file, not 'measured' or seconds
        paths['--latency'] = args.latency
    return paths


def _gt_of(args, source):
    """(ground truth or None, whether the source is that dataset)."""
    from video_perception.replay import matching
    if args.gt is not None:
        gt = matching.load_gt(args.gt)
        return gt, (source.kind == 'dataset' and pathlib.Path(args.gt).resolve() in
                    (source.path.resolve(), source.path.parent.resolve()))
    if source.kind == 'dataset' and source.dataset.data['annotations']:
        return matching.load_gt(source.path), True
    return None, False


def _streamer_sink(sink, progress, detector):
    """(sink, progress) that write the node's Streamer output into the bag: each output's
    tracks forecast to the next frame after its finish, on the input clock (the frame period:
    the median step of its stream's stamps so far, which ``progress`` sees)."""
    import dataclasses

    import numpy as np

    from video_perception.streaming.stage import StreamingStage
    stage = StreamingStage({'forecast': 'kalman', 'score_threshold': detector.score_threshold,
                            'max_detections': detector.max_detections}, detector.bundle)
    seen = {}

    def on_frame(run):
        seen['run'] = run
        progress(run)

    def on_output(frame, image, rec):
        stamps = [f.stamp_ns for f in seen['run'].frames if f.stream == rec.stream][-31:]
        steps = np.diff(np.array(stamps, np.int64))
        steps = steps[steps > 0]
        period = int(np.median(steps)) if steps.size else None
        dets, target = stage.apply(0, rec.dets, rec.stamp_ns, period,
                                   (image.shape[1], image.shape[0]), None, 0.0, rec.finish_ns)
        sink(frame, image, dataclasses.replace(rec, stamp_ns=target, dets=dets))
    return on_output, on_frame


def replay(args, tmp: pathlib.Path) -> tuple[tuple, list[tuple]]:
    """Does the work into ``tmp``; returns the summary table (header, rows)."""
    if args.cameras is not None:
        if args.forecast != 'none' or args.schedule != 'immediate':
            raise ValueError(f'--cameras: --forecast and --schedule take one camera (got '
                             f'--forecast {args.forecast}, --schedule {args.schedule})')
        from video_perception.tools.replay_multi import replay_cameras
        return replay_cameras(args, tmp)
    from tqdm import tqdm

    from video_perception import bagio
    from video_perception.backends.base import BackendOptions
    from video_perception.detector import load_detector
    from video_perception.eval import plots
    from video_perception.eval.report import write_report
    from video_perception.eval.results import save_results
    from video_perception.eval.categories import load_class_map
    from video_perception.replay import outputs
    from video_perception.replay.engine import run_replay
    from video_perception.replay.latency_model import parse_latency, parse_speeds
    from video_perception.sources import open_source

    speeds = parse_speeds(args.speed)
    latency = parse_latency(args.latency, speeds[0], args.seed)
    class_map = load_class_map(args.class_map) if args.class_map else None
    source = open_source(args.source, args.topic, args.fps)
    gt, source_is_gt = _gt_of(args, source)
    if len(speeds) > 1 and gt is None:
        raise ValueError(f'--speed {args.speed}: a sweep needs ground truth (--gt, or a dataset '
                         'SOURCE with annotations)')
    if len(speeds) > 1 and (args.video or args.save_images):
        raise ValueError(f'--speed {args.speed}: --video and --save-images take one speed')
    thresholds = {} if args.score_threshold is None else {'score_threshold':
                                                          args.score_threshold}
    detector = load_detector(args.model, args.backend, BackendOptions(threads=args.threads),
                             log=lambda s: print(f'replay: {s}'), **thresholds)
    pixel_format = detector.bundle.pixel_format
    _classes(args, detector.class_names, gt, class_map)  # a bad map fails before the clip

    storage = args.storage or source.storage or 'sqlite3'
    from video_perception.replay.sweep import has_history
    passes = 1 + (len(speeds) if len(speeds) > 1 and has_history(detector) else 0)
    bar = tqdm(total=source.count and source.count * passes, desc='replay', unit='frame',
               disable=None)

    def progress(run):  # once per source frame, in the replay and in every speed of a sweep
        raise_if_stopped()
        bar.update(1)
        bar.set_postfix(processed=len(run.outputs), dropped=run.dropped, refresh=False)
    try:
        if len(speeds) > 1:
            return sweep_into(args, tmp, source, detector, latency, speeds, gt, source_is_gt,
                              class_map, progress)
        with bagio.write_bag(tmp / 'bag', storage=storage) as writer:
            sink = outputs.BagOutput(writer, detector.class_names, pixel_format,
                                     args.save_images, detector.score_threshold)
            from video_perception.streaming.schedule import ShrinkingTail
            tail = ShrinkingTail() if args.schedule == 'shrinking-tail' else None
            if args.forecast == 'kalman':
                sink, progress = _streamer_sink(sink, progress, detector)
            run = run_replay(source.frames(), detector, latency, pixel_format, sink, progress,
                             tail)
        _write_latency_file(tmp / 'latency.json', run, detector, args)
    finally:
        bar.close()
        detector.close()
    if not run.frames:
        raise ValueError(f'source {args.source}: no frames')

    report = None
    if gt is not None:
        score = _Scorer(args, run, gt, source_is_gt, source.path, detector.class_names,
                        class_map, frames_ahead(detector.bundle))
        results, report, coco, latencies, sap_k = score(
            run, _run_info(args, run, latency, speeds[0], True), args.forecast == 'kalman')
        write_report(tmp / 'report.json', report)  # and report.md beside it
        plots.plot_report(tmp / 'plots', coco, latencies, sap_k,
                          frame_period_s=_frame_period_s(run))
    else:
        names = list(detector.class_names)
        results, _ = outputs.build_results(run, list(range(len(names))))
        results.categories = dict(enumerate(names))
        if args.forecast == 'kalman':
            from video_perception.streaming.offline import track_run
            ids = {f.index: f.image_id for f in run.frames}
            results.track_ids = {
                int(ids[i] if ids[i] is not None else i): t
                for i, t in track_run(run, frames_ahead(detector.bundle)).items()}
    save_results(tmp / 'results.json', results)
    if args.video:
        fps = source.fps or (1.0 / _frame_period_s(run) if _frame_period_s(run) else 30.0)
        outputs.write_video(source, run, tmp / 'replay.mp4', detector.class_names, fps,
                            detector.score_threshold)
    return ('quantity', 'value'), outputs.summary_rows(run, report)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from video_perception.backends.base import BackendError
    out = pathlib.Path(args.out)
    try:
        check_apart({'--out': out}, input_paths(args))
    except ValueError as e:
        print(f'{PROG}: error: {e}', file=sys.stderr)
        return 2
    if out.exists() and not args.force:
        print(f'{PROG}: error: --out {out} already exists (remove it or pass --force)',
              file=sys.stderr)
        return 2
    tmp = out.parent / f'{out.name}.tmp-{os.getpid()}'
    made = [p for p in out.absolute().parents if not p.exists()]  # removed again on failure
    try:
        tmp.mkdir(parents=True)
        header, rows = replay(args, tmp)
        raise_if_stopped()  # a stop swallowed after the last frame: OUT is not replaced
        old = out.parent / f'.{out.name}.old-{os.getpid()}'
        if out.exists():  # --force: swapped out first, so OUT is never missing or mixed
            os.replace(out, old)
        os.replace(tmp, out)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        elif old.exists():  # --force over a file
            old.unlink()
    except (ValueError, OSError, KeyError, BackendError) as e:
        shutil.rmtree(made[-1] if made else tmp, ignore_errors=True)
        line = error_line(e, out).replace(str(tmp), str(out))  # the path the user gave
        print(f'{PROG}: error: {line}', file=sys.stderr)
        return 2
    except BaseException:  # Ctrl-C, SIGTERM (cli.py): the dispatcher prints the one line
        shutil.rmtree(made[-1] if made else tmp, ignore_errors=True)
        raise
    from video_perception.eval.report import markdown
    print(markdown(header, rows))
    print(f'replay: wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
