"""What the replay commands share (``tools/replay.py``, one camera, ``tools/replay_sweep.py``,
its latency sweep, and ``tools/replay_multi.py``, several cameras of a bag): the command's name,
the frame period of a run, the model's classes as GT categories, scoring a run against the ground
truth, the run's description in the report and its latency file. Here, below them all, so that
none imports another.
"""
from __future__ import annotations

import sys

PROG = 'video-perception replay'


def _frame_period_s(run) -> float | None:
    import numpy as np
    stamps = np.array([f.stamp_ns for f in run.frames], np.int64)
    steps = np.diff(stamps)
    steps = steps[steps > 0]
    return float(np.median(steps)) / 1e9 if steps.size else None


def _classes(args, class_names, gt, class_map):
    """The model's classes as GT categories (``ClassMapping``; None without ground truth), so a
    bad class map fails before the clip is run."""
    from video_perception.eval.categories import map_classes
    if gt is None:
        if class_map is not None:
            raise ValueError(f'--class-map {args.class_map}: needs ground truth (--gt, or a '
                             'dataset SOURCE with annotations)')
        return None
    return map_classes(class_names, gt.dataset['categories'], class_map,
                       gt.dataset['annotations'], args.class_map)


class _Scorer:
    """Matches the source's frames to the ground truth once and scores any run over them."""

    def __init__(self, args, run, gt, source_is_gt, source_path, class_names, class_map,
                 offset_frames: int = 0):
        from video_perception.replay import matching
        self.args, self.gt = args, gt
        self.offset_frames = offset_frames      # Streamer: frames ahead the boxes describe
        self.match = matching.match_frames([f.stamp_ns for f in run.frames], gt,
                                           [f.image_id for f in run.frames], source_is_gt,
                                           args.gt_video, source_path)
        self.gt_used = matching.restrict_gt(gt, self.match.videos,
                                            self.match.frame_to_image.values())
        # the warnings and the report count annotations of the replayed videos only
        self.classes = _classes(args, class_names, self.gt_used, class_map)
        self.cat_ids = self.classes.cat_ids
        for line in self.classes.warnings():
            print(f'{PROG}: warning: {line}', file=sys.stderr)

    def __call__(self, run, info: dict, forecast: bool = False):
        """(results, report, streaming CocoResult, latencies in s, sap_k) of ``run``; with
        ``forecast`` scored on Streamer's forecasts, the results carrying track ids."""
        from video_perception.replay import outputs, scoring
        from video_perception.streaming.offline import Forecaster
        forecaster = Forecaster(offset_frames=self.offset_frames) if forecast else None
        results, left_out = outputs.build_results(run, self.cat_ids,
                                                  self.match.frame_to_image, self.gt)
        results.categories = {int(c['id']): str(c['name'])
                              for c in self.gt.dataset['categories']}
        info = dict(info, match=self.match.method,
                    matched_frames=len(self.match.frame_to_image), outputs_without_gt=left_out)
        report, coco, latencies, sap_k = scoring.score(
            self.gt_used, results, self.args.lesion_protocol, self.args.lesion_score_thr,
            classes=self.classes.report(), forecast=forecaster, **info)
        if forecaster is not None:
            results.track_ids = forecaster.last.track_ids
        return results, report, coco, latencies, sap_k


def _run_info(args, run, latency, speed, streamer: bool = False) -> dict:
    from video_perception.replay.latency_model import describe
    schedule = getattr(args, 'schedule', 'immediate') if streamer else 'immediate'
    return {'source': str(args.source), 'model': str(args.model),
            'latency': describe(latency), 'speed': speed, 'schedule': schedule,
            'frames': len(run.frames),
            'processed': len(run.outputs), 'dropped': run.dropped, 'bad_frames': run.bad,
            'streams': run.streams}


def _write_latency_file(path, run, detector, args) -> None:
    """latency.json: the wall time of every detector run (``latency_model`` reads it back)."""
    from video_perception.eval.results import write_json_atomic
    from video_perception.replay.latency_model import latency_file_dict
    if run.outputs:
        write_json_atomic(path, latency_file_dict(
            [o.wall_s for o in run.outputs], what='wall time of each detector run (ms)',
            model=str(args.model), backend=detector.backend_description))
