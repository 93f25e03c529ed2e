"""Evaluation reports: a JSON object for machines and a markdown table for people.

JSON keys: ``mode``; ``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl`` (and the AR numbers),
fractions as pycocotools gives them (-1 where there is no ground truth of that size);
``n_images`` (GT frames evaluated); streaming adds ``in_time``, ``mean_lag_frames``,
``n_missing`` (GT frames with no output finished yet) and ``latency_s`` (see ``latency``); kstep
adds ``k`` and ``n_dropped_outputs``; a lesion evaluation adds ``lesion`` with ``protocol``,
``threshold``, ``precision``, ``recall``, ``f1``, ``f2`` and the best-F1 threshold; a sweep adds
``sap_k`` {K: AP}.
"""
from __future__ import annotations

import math
import pathlib

from video_perception.eval.coco_ap import STAT_KEYS, CocoResult
from video_perception.eval.results import write_json_atomic

TABLE_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl')


def build_report(mode: str, coco: CocoResult | None, **extra) -> dict:
    """The JSON report of one evaluation (``extra`` keys are added as they are)."""
    report: dict = {'mode': mode}
    if coco is not None:
        report.update({k: coco.stats[k] for k in STAT_KEYS})
        report['n_images'] = coco.n_images
    report.update(extra)
    return report


def _fmt(value, percent: bool = False) -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        if math.isnan(value):
            return 'nan'
        if percent:
            return '-' if value < 0 else f'{100 * value:.1f}'
        return f'{value:.4g}'
    return str(value)


def markdown_table(report: dict) -> str:
    """A markdown summary: AP numbers in percent, then the mode's extra numbers."""
    lines = []
    if 'AP' in report:
        keys = list(TABLE_KEYS)
        lines += ['| mode | ' + ' | '.join(keys) + ' |',
                  '|---|' + '---:|' * len(keys),
                  f"| {report['mode']} | "
                  + ' | '.join(_fmt(report[k], True) for k in keys) + ' |', '']
    rows = []
    for key in ('k', 'n_images', 'n_dropped_outputs', 'in_time', 'mean_lag_frames',
                'n_missing'):
        if key in report:
            rows.append((key, _fmt(report[key])))
    lat = report.get('latency_s')
    if lat and lat.get('n'):
        for key in ('median', 'p95', 'max', 'mean'):
            rows.append((f'latency {key} (ms)', f'{1000 * lat[key]:.1f}'))
    les = report.get('lesion')
    if les:
        rows.append(('lesion protocol', f"{les['protocol']} @ score >= {les['threshold']:g}"))
        for key in ('precision', 'recall', 'f1', 'f2'):
            rows.append((f'lesion {key}', f'{les[key]:.4f}'))
        rows.append(('lesion best F1', f"{les['best_f1']:.4f} @ {les['best_f1_threshold']:.4g}"))
    for k, ap in (report.get('sap_k') or {}).items():
        rows.append((f'sAP_{k}', _fmt(ap, True)))
    if rows:
        lines += ['| quantity | value |', '|---|---:|'] + [f'| {a} | {b} |' for a, b in rows]
    return '\n'.join(lines).rstrip() + '\n'


def _json_safe(value):
    """NaN / inf become null: strict JSON readers reject them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_report(path, report: dict) -> tuple[pathlib.Path, pathlib.Path]:
    """Writes REPORT.json and REPORT.md beside it (each atomically); returns both paths."""
    path = pathlib.Path(path)
    if path.suffix == '.md':
        raise ValueError(f'report path {path}: expected a .json file (the .md goes beside it)')
    write_json_atomic(path, _json_safe(report))
    md = path.with_suffix('.md')
    tmp = md.with_name(md.name + '.tmp')
    tmp.write_text(markdown_table(report), encoding='utf-8')
    tmp.replace(md)
    return path, md
