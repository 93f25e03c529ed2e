"""``video-perception replay BAG --cameras TOPIC,TOPIC,... --model BUNDLE --out DIR``: the bag's
image topics as separate cameras through one batched detector (``replay.multi``).

DIR receives, per camera, a folder named after its topic (``/cam_a/image`` -> ``cam_a_image``)
with that camera's ``results.json`` (as ``evaluate`` reads it), its ``bag/`` (``/detections``
and ``/detections/labels``, receive time = the batch's finish) and, with ground truth
(``--gt A.json,B.json``: one dataset per camera, in ``--cameras`` order), ``report.json`` /
``report.md`` and ``plots/``; beside them ``latency.json`` (the wall time of every batch) and
``cameras.md``, the summary table with one column per camera.
"""
from __future__ import annotations

import contextlib


def _check(args) -> list:
    topics = [t.strip() for t in str(args.cameras).split(',') if t.strip()]
    for flag, bad in (('--topic', args.topic is not None), ('--video', args.video),
                      ('--speed with a list', ',' in str(args.speed))):
        if bad:
            raise ValueError(f'--cameras: {flag} takes one camera; not with --cameras')
    if len(topics) < 2:
        raise ValueError(f'--cameras {args.cameras}: expected two or more image topics, '
                         'comma-separated (one camera: --topic)')
    return topics


def _gts(args, n: int) -> list:
    from video_perception.replay import matching
    if args.gt is None:
        return [None] * n
    paths = [p.strip() for p in str(args.gt).split(',')]
    if len(paths) != n:
        raise ValueError(f'--gt {args.gt}: expected one dataset JSON per camera ({n}), '
                         'comma-separated in --cameras order')
    return [matching.load_gt(p) for p in paths]


def _table(names, runs, reports, batches) -> tuple:
    """(header, rows): quantity, then one value per camera ('-' where a camera has none)."""
    from video_perception.replay.outputs import summary_rows
    per = [dict(summary_rows(run, rep)) for run, rep in zip(runs, reports)]
    keys = list(dict.fromkeys(k for rows in per for k in rows))
    rows = [(k,) + tuple(rows.get(k, '-') for rows in per) for k in keys]
    sizes = [len(b.members) for b in batches]
    rows.append(('batches (all cameras)', str(len(batches))) + ('',) * (len(names) - 1))
    if sizes:
        rows.append(('mean batch size', f'{sum(sizes) / len(sizes):.2f}')
                    + ('',) * (len(names) - 1))
    return ('quantity',) + tuple(names), rows


def replay_cameras(args, tmp) -> tuple:
    """Does the work into ``tmp``; returns the per-camera summary table (header, rows)."""
    from tqdm import tqdm

    from video_perception import bagio
    from video_perception.backends.base import BackendOptions
    from video_perception.detector import CameraBatch, load_detector
    from video_perception.eval import plots
    from video_perception.eval.categories import load_class_map
    from video_perception.eval.report import markdown, write_report
    from video_perception.eval.results import save_results, write_json_atomic
    from video_perception.replay import outputs
    from video_perception.replay.latency_model import (latency_file_dict, parse_latency,
                                                       parse_speeds)
    from video_perception.replay.multi import camera_names, run_multi_replay
    from video_perception.sources import FrameSource
    from video_perception.tools.cli_common import raise_if_stopped
    from video_perception.tools.replay_common import (_classes, _frame_period_s,
                                                      _run_info, _Scorer)

    topics = _check(args)
    names = camera_names(topics)
    speed = parse_speeds(args.speed)[0]
    latency = parse_latency(args.latency, speed, args.seed)
    class_map = load_class_map(args.class_map) if args.class_map else None
    sources = [FrameSource(args.source, t, args.fps, topic_flag='--cameras') for t in topics]
    if sources[0].kind != 'bag':
        raise ValueError(f'--cameras: source {args.source} is not a rosbag2')
    gts = _gts(args, len(topics))
    thresholds = {} if args.score_threshold is None else {'score_threshold':
                                                          args.score_threshold}
    detector = load_detector(args.model, args.backend, BackendOptions(threads=args.threads),
                             log=lambda s: print(f'replay: {s}'), **thresholds)
    for gt in gts:
        _classes(args, detector.class_names, gt, class_map)  # a bad map fails before the bag
    pixel_format = detector.bundle.pixel_format
    batch = CameraBatch(detector, len(topics))
    storage = args.storage or sources[0].storage or 'sqlite3'
    bar = tqdm(total=sum(s.count or 0 for s in sources) or None, desc='replay', unit='frame',
               disable=None)

    def progress(run):  # once per source frame of any camera
        raise_if_stopped()
        bar.update(1)
    try:
        with contextlib.ExitStack() as stack:
            sinks = []
            for name in names:
                (tmp / name).mkdir()
                writer = stack.enter_context(bagio.write_bag(tmp / name / 'bag', storage))
                sinks.append(outputs.BagOutput(writer, detector.class_names, pixel_format,
                                               args.save_images, detector.score_threshold))
            run = run_multi_replay([s.frames() for s in sources], names, batch, latency,
                                   pixel_format, lambda c, *rest: sinks[c](*rest), progress)
    finally:
        bar.close()
        detector.close()
    if run.batches:
        write_json_atomic(tmp / 'latency.json', latency_file_dict(
            [b.wall_s for b in run.batches], what='wall time of each batch (ms)',
            model=str(args.model), backend=detector.backend_description,
            cameras=list(topics)))
    reports = []
    for c, (name, cam_run, gt) in enumerate(zip(names, run.runs, gts)):
        if not cam_run.frames:
            raise ValueError(f'--cameras: topic {topics[c]} has no frames')
        report = None
        if gt is not None:
            score = _Scorer(args, cam_run, gt, False, sources[c].path, detector.class_names,
                            class_map)
            info = dict(_run_info(args, cam_run, latency, speed), camera=topics[c])
            results, report, coco, latencies, sap_k = score(cam_run, info)
            write_report(tmp / name / 'report.json', report)
            plots.plot_report(tmp / name / 'plots', coco, latencies, sap_k,
                              frame_period_s=_frame_period_s(cam_run))
        else:
            class_names = list(detector.class_names)
            results, _ = outputs.build_results(cam_run, list(range(len(class_names))))
            results.categories = dict(enumerate(class_names))
        save_results(tmp / name / 'results.json', results)
        reports.append(report)
    header, rows = _table(topics, run.runs, reports, run.batches)
    (tmp / 'cameras.md').write_text(markdown(header, rows) + '\n', encoding='utf-8')
    return header, rows
