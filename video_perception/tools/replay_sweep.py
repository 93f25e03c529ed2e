"""``video-perception replay SOURCE --speed S1,S2,...``: the latency sweep's outputs.

``replay.sweep.run_sweep`` runs the clip once per speed (StreamNet again per speed, since its
feature buffer holds whichever frames that speed let it process; a detector without history is
re-scheduled); here each speed is scored against the ground truth (and, with ``--forecast
kalman`` or ``--schedule shrinking-tail``, as the Streamer too) into ``speed_<s>/``, and the
table (``sweep.md`` / ``sweep.json``) and the plot (``plots/latency_sweep.png``) are written,
all into the command's temporary folder (``tools/replay.py`` renames it at the end).
"""
from __future__ import annotations

from video_perception.streaming.stage import frames_ahead
from video_perception.tools.replay_common import (_frame_period_s, _run_info, _Scorer,
                                                  _write_latency_file)


def sweep_into(args, tmp, source, detector, latency, speeds, gt, source_is_gt, class_map,
               progress):
    """Replays at every speed into ``tmp/speed_<s>/`` and writes the sweep table and plot."""
    from video_perception.eval import plots
    from video_perception.eval.report import markdown, write_report
    from video_perception.eval.results import save_results, write_json_atomic
    from video_perception.replay import scoring
    from video_perception.replay.latency_model import describe
    from video_perception.replay.sweep import run_sweep
    from video_perception.streaming.schedule import ShrinkingTail
    streamer = args.forecast == 'kalman' or args.schedule == 'shrinking-tail'
    tail = args.schedule == 'shrinking-tail'
    sweep = run_sweep(source.frames, detector, latency, speeds,
                      detector.bundle.pixel_format, progress,
                      ShrinkingTail if tail else None)
    if streamer and not tail:      # the same schedule: only the scoring differs
        sweep.streamer_runs = dict(sweep.runs)
    if not sweep.ceiling.frames:
        raise ValueError(f'source {args.source}: no frames')
    _write_latency_file(tmp / 'latency.json', sweep.ceiling, detector, args)
    score = _Scorer(args, sweep.ceiling, gt, source_is_gt, source.path, detector.class_names,
                    class_map, frames_ahead(detector.bundle))
    _, ceiling, _, _, ceiling_sap_k = score(sweep.ceiling, {})
    sap_1 = (ceiling_sap_k or {}).get(1)
    points = []
    for speed, run in sweep.runs.items():
        results, report = score(run, _run_info(args, run, latency, speed))[:2]
        folder = tmp / f'speed_{speed:g}'
        save_results(folder / 'results.json', results)
        write_report(folder / 'report.json', report)
        points.append(scoring.sweep_point(speed, run, report))
    streamer_points = []
    for speed, run in sweep.streamer_runs.items():
        results, report = score(run, _run_info(args, run, latency, speed, True),
                                args.forecast == 'kalman')[:2]
        folder = tmp / f'speed_{speed:g}' / 'streamer'
        save_results(folder / 'results.json', results)
        write_report(folder / 'report.json', report)
        streamer_points.append(scoring.sweep_point(speed, run, report))
    label = ' + '.join(x for x in (args.forecast if args.forecast != 'none' else '',
                                   args.schedule if args.schedule != 'immediate' else '') if x)
    ceiling_ap = (ceiling.get('offline') or {}).get('AP')
    period = _frame_period_s(sweep.ceiling)
    write_json_atomic(tmp / 'sweep.json', {
        'speed_definition': 'runtime divided by speed (the sAP toolkit\'s perf_factor)',
        'latency': describe(latency),
        'seed': args.seed, 'detector_rerun_per_speed': sweep.rerun,
        'ceiling_offline_AP': ceiling_ap, 'ceiling_sap_1': sap_1, 'frame_period_s': period,
        'speeds': points, 'streamer': {'forecast': args.forecast, 'schedule': args.schedule,
                                       'speeds': streamer_points} if streamer_points else None})
    rows = scoring.sweep_rows(points) + [
        (f'{r[0]} streamer',) + tuple(r[1:]) for r in scoring.sweep_rows(streamer_points)] + [
        ('every frame, 0 ms', '0.0', '0.0', scoring.metrics.fmt_percent(ceiling.get('AP')),
         scoring.metrics.fmt_percent(ceiling_ap), '-', '-',
         f'{len(sweep.ceiling.outputs)}/{len(sweep.ceiling.frames)}')]
    (tmp / 'sweep.md').write_text(markdown(scoring.SWEEP_HEADER, rows) + '\n', encoding='utf-8')
    plots.plot_latency_sweep(points, ceiling_ap, tmp / 'plots' / 'latency_sweep.png', period,
                             sap_1, streamer=streamer_points or None,
                             streamer_label=f'Streamer ({label})')
    return scoring.SWEEP_HEADER, rows
