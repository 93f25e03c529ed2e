"""The numbers of ``make demo``: the live run scored like a replay, the replay itself, the table
and the overview figure. Every number in the table is read back from a report JSON on disk."""
from __future__ import annotations

import json
import math
import pathlib
from typing import Optional

import numpy as np

from demo_steps import LESION_THR, SCORE_THR_AP, ClipSpec, DemoError, run_tool


def _published(c: ClipSpec, cams: dict, times_file: pathlib.Path) -> dict:
    """When each stamp went on the wire: the publisher's own CLOCK_MONOTONIC (``publish
    --times``), the clock the recorder's arrival times use on this machine.

    Without that file, the recorder's callback times, which run late when the recorder is busy
    decoding images, are an upper bound: the latency then reads low.
    """
    from video_perception.tools.publish import read_times
    if times_file.is_file():
        return read_times(times_file)
    if not cams:
        raise DemoError(f'{c.name}: the recorder received no camera frame over DDS')
    return dict(cams)


def _latency(values_s) -> dict:
    """The latency numbers of the table, named as the report's latency metric names them."""
    from video_perception.eval.latency import latency_stats
    from video_perception.eval.metrics import METRICS
    st = latency_stats(values_s)
    return {name: get(st) for name, get in METRICS['latency_s'].headline}


def live_report(c: ClipSpec, seen: dict, out: pathlib.Path) -> dict:
    """Scores what the recorder saw with the replay's own scoring; writes OUT/live/<clip>/."""
    from video_perception.eval import plots
    from video_perception.eval.report import write_report
    from video_perception.eval.results import Results, result_rows, save_results
    from video_perception.replay import matching, scoring
    d = out / 'live' / c.name
    arrive = _published(c, seen['cams'], out / 'live' / c.name / 'publish_times.txt')
    index = {s: k for k, s in enumerate(c.stamps_ns)}
    dets = [x for x in seen['dets'] if x[1] in index and x[1] in arrive]
    lat = [t - arrive[s] for t, s, _ in dets]
    summary = {'frames': len(c.stamps_ns), 'dropped': len(c.stamps_ns) - len(dets),
               'outputs_unmatched': len(seen['dets']) - len(dets), **_latency(lat),
               'streaming_AP': None, 'offline_AP': None, 'lesion_F1': None,
               'diagnostics': seen.get('diagnostics', {})}
    if c.gt is None:
        summary['report'] = None
        (d / 'summary.json').write_text(json.dumps(summary, indent=1))
        return summary
    gt = matching.load_gt(c.gt)
    match = matching.match_frames(c.stamps_ns, gt, gt_video=c.gt_video)
    names = json.loads((c.bundle / 'model.json').read_text())['classes']
    cat_ids = matching.category_map(names, gt)
    res_out, res_dets = {}, {}
    for (t, s, rows), dt in zip(dets, lat):
        iid = match.frame_to_image.get(index[s])
        if iid is None:
            continue
        cls = [int(r[4]) if str(r[4]).isdigit() else names.index(r[4]) for r in rows]
        res_out[iid] = gt.timestamp(iid) + dt   # finish on the dataset's clock
        res_dets[iid] = result_rows([r[:4] for r in rows], [r[5] for r in rows], cls, cat_ids)
    results = Results(res_out, res_dets)
    gt_used = matching.restrict_gt(gt, match.videos, match.frame_to_image.values())
    info = {'source': str(c.source), 'model': str(c.bundle), 'latency': 'live (DDS)',
            'frames': len(c.stamps_ns), 'processed': len(res_out),
            'dropped': len(c.stamps_ns) - len(res_out), 'match': match.method}
    report, coco, latencies, sap_k = scoring.score(gt_used, results, 'centroid', LESION_THR,
                                                   lesion=c.lesion, **info)
    save_results(d / 'results.json', results)
    write_report(d / 'report.json', report)  # and report.md beside it
    plots.plot_report(d / 'plots', coco, latencies, sap_k, frame_period_s=1.0 / c.fps)
    _render_streaming_view(c, gt_used, results, d / 'streaming_view')
    summary.update(_from_report(report), report=str(d / 'report.json'))
    (d / 'summary.json').write_text(json.dumps(summary, indent=1))
    return summary


def _render_streaming_view(c: ClipSpec, gt, results, folder: pathlib.Path) -> None:
    """What the vehicle showed: each GT frame with the newest output finished by then."""
    from video_perception.eval.streaming import pair_streaming
    from video_perception.eval.video import render_clip
    dets = pair_streaming(gt, results).detections(results)
    vid = next(iter(gt.videos))
    render_clip(gt, dets, c.image_root, folder, video_id=vid, score_thr=0.3)


def _from_report(report: dict) -> dict:
    """The table's numbers, taken from a report JSON (replay's or the live one) by the
    registered metrics' headlines (``eval.metrics``)."""
    from video_perception.eval.metrics import headline
    h = headline(report)
    info = report.get('replay') or {}
    return {'streaming_AP': h['AP'], 'offline_AP': h['offline_AP'], 'lesion_F1': h['lesion_F1'],
            'latency_median_ms': h['latency_median_ms'], 'latency_p95_ms': h['latency_p95_ms'],
            'frames': info.get('frames'), 'dropped': info.get('dropped')}


def replay_run(c: ClipSpec, out: pathlib.Path, env) -> dict:
    """``video-perception replay`` of the clip; the numbers read back from what it wrote."""
    d = out / 'replay' / c.name
    d.parent.mkdir(exist_ok=True)
    args = ['replay', c.source, '--model', c.bundle, '--out', d, '--backend', 'onnxruntime',
            '--threads', 1, '--score-threshold', SCORE_THR_AP, '--video']
    if c.gt is not None:
        args += ['--gt', c.gt, '--lesion-score-thr', LESION_THR]
        if c.gt_video:
            args += ['--gt-video', c.gt_video]
    if c.source.is_dir() and not (c.source / 'metadata.yaml').exists():
        args += ['--fps', f'{c.fps:.3f}']
    run_tool(args, env, f'replay {c.name}', timeout=600, log=out / 'replay' / f'{c.name}.log')
    if c.gt is not None:
        report = json.loads((d / 'report.json').read_text())
        summary = _from_report(report)
        summary['report'] = str(d / 'report.json')
    else:  # no ground truth: latency and drops from the results file
        res = json.loads((d / 'results.json').read_text())
        lat = [o['finish_time'] - c.stamps_ns[o['input_image_id']] / 1e9 for o in res['outputs']]
        summary = {'streaming_AP': None, 'offline_AP': None, 'lesion_F1': None,
                   **_latency(lat), 'frames': len(c.stamps_ns),
                   'dropped': len(c.stamps_ns) - len(res['outputs']), 'report': None}
    summary['results'] = str(d / 'results.json')
    return summary


def _ms(v) -> str:
    return '-' if v is None or (isinstance(v, float) and math.isnan(v)) else f'{v:.1f}'


def _f1(v) -> str:
    return '-' if v is None else f'{v:.3f}'


def format_cells(clip: str, run: str, s: dict) -> list[str]:
    """One table row from a summary dict (numbers as in the report JSONs)."""
    from video_perception.eval.metrics import fmt_percent
    return [clip, run, fmt_percent(s.get('streaming_AP')), fmt_percent(s.get('offline_AP')),
            _f1(s.get('lesion_F1')), _ms(s.get('latency_median_ms')),
            _ms(s.get('latency_p95_ms')), f"{s.get('dropped')}/{s.get('frames')}"]


def table_rows(clips, live: dict, replay: dict) -> list[dict]:
    rows = []
    for c in clips:
        if not c.available:
            rows.append({'clip': c.name, 'run': 'not run', 'why': c.why,
                         'cells': [c.name, 'not run'] + ['-'] * 6})
            continue
        for run, s in (('live (DDS)', live[c.name]), ('replay', replay[c.name])):
            rows.append({'clip': c.name, 'run': run, **{k: v for k, v in s.items()
                                                        if k != 'diagnostics'},
                         'cells': format_cells(c.name, run, s)})
    return rows


def make_summary_figure(clips, out: pathlib.Path) -> Optional[pathlib.Path]:
    """OUT/summary.png: a frame of each clip's live streaming view (or its replay video)."""
    import cv2
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    tiles = []
    for c in clips:
        if not c.available:
            continue
        pngs = sorted((out / 'live' / c.name / 'streaming_view').glob('*.png'))
        img = None
        if pngs:
            img = cv2.imread(str(pngs[len(pngs) * 2 // 3]))
        else:
            cap = cv2.VideoCapture(str(out / 'replay' / c.name / 'replay.mp4'))
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            cap.set(cv2.CAP_PROP_POS_FRAMES, max(0, n * 2 // 3))
            ok, frame = cap.read()
            cap.release()
            img = frame if ok else None
        if img is not None:
            tiles.append((c, img[..., ::-1]))
    if not tiles:
        return None
    fig, axes = plt.subplots(1, len(tiles), figsize=(5.2 * len(tiles), 3.8))
    for ax, (c, img) in zip(np.atleast_1d(axes), tiles):
        ax.imshow(img)
        view = 'live streaming view' if c.gt is not None else 'replay'
        ax.set_title(f'{c.name}: {c.executable} ({view})', fontsize=10)
        ax.axis('off')
    fig.tight_layout()
    path = out / 'summary.png'
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
