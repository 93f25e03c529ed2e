"""The numbers of a report, each a registered record: how it is computed and how it reads.

A mode (``offline``, ``kstep``, ``streaming``) pairs outputs with ground-truth frames and gives
the COCO AP of that pairing (``score_mode``, a ``Scored``). The other metrics are records in
``METRICS``: a record names its key in the report JSON, may compute its value from a ``Scored``
(``compute``), and says how that value reads: rows of one of the report's tables (``rows``), the
end-of-run summary rows of ``replay`` (``brief``) and the named headline numbers of the demo
table (``headline``). ``evaluate``, ``replay`` and the demo all build and print their reports
through these records and ``report.markdown_table``, so a number is computed and written in one
place and reads the same wherever it appears.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Optional

import numpy as np

from video_perception.eval.coco_ap import CocoResult, evaluate_coco
from video_perception.eval.kstep import evaluate_kstep, evaluate_offline, sap_k_sweep
from video_perception.eval.latency import latencies_from_results, latency_stats
from video_perception.eval.lesion import frames_from, lesion_metrics
from video_perception.eval.results import GroundTruth, Results
from video_perception.eval.streaming import deadline_misses, evaluate_streaming

MODES = ('offline', 'streaming', 'kstep')
TABLE_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl')
# table name -> its header cells; tables print in this order, rows in registry order
TABLES = {'ap': ('mode',) + TABLE_KEYS, 'quantity': ('quantity', 'value'),
          'replay': ('replay', 'value')}

Row = tuple  # (label, cell, ...): one row of a table


def fmt_value(value) -> str:
    """A count or ratio as the tables print it ('-' for none, 4 significant digits)."""
    if value is None:
        return '-'
    if isinstance(value, float):
        return 'nan' if math.isnan(value) else f'{value:.4g}'
    return str(value)


def fmt_percent(value) -> str:
    """An AP fraction in percent; '-' for none, NaN or pycocotools' -1 (no ground truth)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value < 0:
        return '-'
    return f'{100 * value:.1f}'


@dataclasses.dataclass
class Scored:
    """One mode's evaluation: what every metric record computes from.

    paired:    GT image id -> [N, 6] rows (x, y, w, h, score, category_id) scored against it
    image_ids: the GT images scored (None: all of ``gt``)
    extra:     the mode's own report numbers (``k``, ``in_time``, ``latency_s``, ...)
    latencies: finish - frame time of each timed output in s (None: the results have no clock)
    """

    mode: str
    gt: GroundTruth
    results: Results
    coco: CocoResult
    paired: dict[int, np.ndarray]
    image_ids: Optional[list[int]] = None
    extra: dict = dataclasses.field(default_factory=dict)
    latencies: Optional[np.ndarray] = None
    bdd_plus_one: bool = False


def score_mode(mode: str, gt: GroundTruth, results: Results, k: int = 1,
               fps: Optional[float] = None, bdd_plus_one: bool = False,
               forecast=None) -> Scored:
    """COCO AP of ``mode``'s pairing, its own numbers and the latencies (when there is a clock).

    kstep scores output t against GT t + ``k``; ``fps`` dates images without a timestamp;
    ``forecast`` (streaming only, ``streaming.offline.Forecaster``) scores each GT frame
    against the forecast made for it (the report's ``forecast`` says how).
    """
    if forecast is not None and mode != 'streaming':
        raise ValueError(f"--forecast: applies to --mode streaming, not '{mode}'")
    extra: dict = {}
    image_ids = None
    if mode == 'offline':
        coco = evaluate_offline(gt, results, bdd_plus_one)
        paired = results.detections
    elif mode == 'kstep':
        if k < 1:
            raise ValueError(f'--k {k}: expected an integer >= 1 (K-step sAP_K, K = 1..6)')
        coco, pairing = evaluate_kstep(gt, results, k, bdd_plus_one)
        paired, image_ids = pairing.dets, pairing.image_ids
        extra.update(k=k, n_dropped_outputs=len(pairing.dropped))
    elif mode == 'streaming':
        coco, pairing, lat = evaluate_streaming(gt, results, fps, bdd_plus_one, forecast)
        paired = pairing.detections(results)
        if forecast is not None:
            extra['forecast'] = forecast.report()
        extra.update(in_time=pairing.in_time, mean_lag_frames=pairing.mean_lag_frames,
                     n_missing=pairing.n_missing, stale=pairing.stale,
                     deadline_miss=deadline_misses(gt, results, fps), latency_s=lat)
    else:
        raise ValueError(f"mode '{mode}': expected one of {MODES}")
    latencies = None
    if mode == 'streaming':
        latencies = latencies_from_results(gt, results, fps)
    elif results.timed and results.outputs:
        try:  # latency is a by-product here: frames without a clock just have none
            latencies = latencies_from_results(gt, results, fps)
            extra['latency_s'] = latency_stats(latencies)
        except ValueError:
            latencies = None
    return Scored(mode, gt, results, coco, paired, image_ids, extra, latencies, bdd_plus_one)


@dataclasses.dataclass(frozen=True)
class Metric:
    """One registered number (or group of numbers) of a report.

    key:      its entry in the report JSON ('' for the top-level AP numbers of the mode)
    table:    the table its rows go in (a key of ``TABLES``)
    rows:     report value -> rows of that table
    compute:  (Scored, **options) -> report value; None where the mode itself gives the value
    brief:    report value -> (quantity, value) rows of the end-of-run summary
    headline: (name, report value -> number) pairs: the numbers of the demo table
    """

    key: str
    table: str
    rows: Callable[[Any], list[Row]]
    compute: Optional[Callable[..., Any]] = None
    brief: Optional[Callable[[Any], list[Row]]] = None
    headline: tuple = ()

    def present(self, report: dict) -> bool:
        """Whether the report has this metric (a key with the value None counts: the metric
        was asked for and had nothing to score)."""
        return ('AP' in report) if not self.key else self.key in report

    def value(self, report: dict):
        if not self.key:
            return report if 'AP' in report else None
        return report.get(self.key)


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.table not in TABLES:
        raise ValueError(f"metric '{metric.key}': table '{metric.table}', expected one of "
                         f'{list(TABLES)}')
    METRICS[metric.key] = metric
    return metric


def compute(name: str, scored: Scored, **options):
    """The report value of metric ``name`` (a key of ``METRICS``) on ``scored``."""
    metric = METRICS.get(name)
    if metric is None or metric.compute is None:
        raise ValueError(f"metric '{name}': expected one of "
                         f'{[k for k, m in METRICS.items() if m.compute]}')
    return metric.compute(scored, **options)


def _ap_cells(stats: dict) -> tuple:
    return tuple(fmt_percent(stats[k]) for k in TABLE_KEYS)


def _offline(s: Scored):
    """Each output against its own frame, over the frames the detector processed."""
    if not s.results.outputs:  # COCOeval needs at least one image
        return None
    offline = evaluate_coco(s.gt, s.results.detections, image_ids=sorted(s.results.outputs))
    return dict(offline.stats, n_images=offline.n_images)


def latency_rows(lat: dict, keys=('median', 'p95', 'max', 'mean')) -> list[Row]:
    """Rows of ``latency.latency_stats`` (seconds) in milliseconds; none when it is empty."""
    if not lat or not lat.get('n'):
        return []
    return [(f'latency {k} (ms)', f'{1000 * lat[k]:.1f}') for k in keys]


def _ms(seconds):
    return None if seconds is None else 1000 * seconds


def _lesion(s: Scored, protocol: str, score_thr: float, negative_frames: str = 'count'):
    """Lesion P/R/F1/F2 on the mode's pairing (``lesion.lesion_metrics``)."""
    return lesion_metrics(frames_from(s.gt, s.paired, s.image_ids), protocol, score_thr,
                          negative_frames)


def _lesion_rows(les: dict) -> list[Row]:
    if not les:
        return []
    rows = [('lesion protocol', f"{les['protocol']} @ score >= {les['threshold']:g}")]
    rows += [(f'lesion {k}', f'{les[k]:.4f}') for k in ('precision', 'recall', 'f1', 'f2')]
    return rows + [('lesion best F1', f"{les['best_f1']:.4f} @ {les['best_f1_threshold']:.4g}")]


def _sap_k(s: Scored, ks):
    """K-step sAP_K for each K in ``ks`` (output of frame t against GT t + K)."""
    return sap_k_sweep(s.gt, s.results, ks, s.bdd_plus_one)


def _sap_k_rows(sap_k: dict) -> list[Row]:
    return [(f'sAP_{k}', fmt_percent(ap)) for k, ap in (sap_k or {}).items()]


def _deadline_rows(miss: dict) -> list[Row]:
    """``streaming.deadline_misses``: outputs finished after the next frame arrived."""
    return [('deadline-miss rate', f"{fmt_value(miss['rate'])} ({miss['missed']}/"
                                   f"{miss['outputs']} outputs)")]


def _classes_rows(c: dict) -> list[Row]:
    """``categories.ClassMapping.report``: how model classes became GT categories."""
    rows = [('classes matched by', c['method'])]
    if c['class_map']:
        rows.append(('model class -> GT category',
                     ', '.join(f'{k} -> {v}' for k, v in c['class_map'].items())))
    if c['dropped_model_classes']:
        rows.append(('model classes dropped (not in GT)', ', '.join(c['dropped_model_classes'])))
    if c['gt_categories_without_class']:
        rows.append(('GT categories without a class (AP 0)',
                     ', '.join(c['gt_categories_without_class'])))
    return rows


def _coverage_rows(c: dict) -> list[Row]:
    """``coverage.Coverage.report``: the part of the ground truth the results cover."""
    return [(f"GT {c['unit']}s scored (covered by the results)",
             f"{c['covered']}/{c['total']} ({c['images']}/{c['gt_images']} images)")]


def _scalar(key: str) -> Metric:
    return Metric(key, 'quantity', lambda v: [(key, fmt_value(v))])


register(Metric('', 'ap', lambda r: [(r['mode'],) + _ap_cells(r)],
                brief=lambda r: [(f"{r['mode']} AP", fmt_percent(r.get('AP')))],
                headline=(('AP', lambda r: r['AP']),)))
register(Metric('offline', 'ap', lambda off: [('offline (processed frames)',) + _ap_cells(off)],
                compute=_offline,
                brief=lambda off: [('offline AP', fmt_percent((off or {}).get('AP')))],
                headline=(('offline_AP', lambda off: off['AP']),)))
for _key in ('k', 'n_images', 'n_dropped_outputs', 'in_time', 'mean_lag_frames', 'n_missing'):
    register(_scalar(_key))
register(Metric('stale', 'quantity',
                lambda v: [('stale (GT frames served an output >= 2 frames old)', fmt_value(v))],
                brief=lambda v: [('stale share of GT frames', fmt_value(v))],
                headline=(('stale', lambda v: v),)))
register(Metric('deadline_miss', 'quantity', _deadline_rows, brief=_deadline_rows,
                headline=(('deadline_miss', lambda v: v['rate']),)))
register(Metric('latency_s', 'quantity', latency_rows,
                headline=tuple((f'latency_{k}_ms', lambda lat, k=k: _ms(lat.get(k)))
                               for k in ('median', 'p95'))))
register(Metric('lesion', 'quantity', _lesion_rows, compute=_lesion,
                brief=lambda les: [(f"lesion F1 ({les['protocol']} @ {les['threshold']:g})",
                                    f"{les['f1']:.4f}")],
                headline=(('lesion_F1', lambda les: les['f1']),)))
register(Metric('sap_k', 'quantity', _sap_k_rows, compute=_sap_k, brief=_sap_k_rows))
register(Metric('forecast', 'quantity', lambda f: [
    ('forecast', f"{f['method']} to {f.get('target', '-')}"),
    ('forecast horizon mean / max (frames)', f"{fmt_value(f.get('horizon_frames_mean'))} / "
                                             f"{fmt_value(f.get('horizon_frames_max'))}")],
                brief=lambda f: [('forecast', f"{f['method']} to {f.get('target', '-')}")]))
register(Metric('classes', 'quantity', _classes_rows,
                brief=lambda c: [r for r in _classes_rows(c) if r[0] != 'classes matched by']))
register(Metric('coverage', 'quantity', _coverage_rows, brief=_coverage_rows))
register(Metric('replay', 'replay', lambda info: [(k, fmt_value(v)) for k, v in info.items()]))


def table_rows(report: dict) -> dict[str, list[Row]]:
    """table name -> its rows, from every registered metric the report has."""
    out: dict[str, list[Row]] = {name: [] for name in TABLES}
    for metric in METRICS.values():
        value = metric.value(report)
        if value is not None:
            out[metric.table] += metric.rows(value)
    return out


def brief_rows(report: dict) -> list[Row]:
    """The (quantity, value) rows of an end-of-run summary, in registry order."""
    rows: list[Row] = []
    for metric in METRICS.values():
        if metric.brief is not None and metric.present(report):
            rows += metric.brief(metric.value(report))
    return rows


def headline(report: dict) -> dict:
    """The demo table's numbers by name (``AP``, ``offline_AP``, ``lesion_F1``,
    ``latency_median_ms``, ...); None where the report lacks the metric."""
    out: dict = {}
    for metric in METRICS.values():
        value = metric.value(report)
        for name, get in metric.headline:
            out[name] = None if value is None else get(value)
    return out
