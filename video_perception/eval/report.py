"""Evaluation reports: a JSON object for machines and a markdown table for people.

JSON keys: ``mode``; ``AP``, ``AP50``, ``AP75``, ``APs``, ``APm``, ``APl`` (and the AR numbers),
fractions as pycocotools gives them (-1 where there is no ground truth of that size);
``n_images`` (GT frames evaluated); streaming adds ``in_time``, ``mean_lag_frames``,
``n_missing`` (GT frames with no output finished yet), ``stale``, ``deadline_miss`` (see
``streaming``) and ``latency_s`` (see ``latency``); kstep
adds ``k`` and ``n_dropped_outputs``; a lesion evaluation adds ``lesion`` with ``protocol``,
``threshold``, ``precision``, ``recall``, ``f1``, ``f2`` and the best-F1 threshold; a sweep adds
``sap_k`` {K: AP}. Which rows each key prints as is said once, by its record in ``metrics``.
"""
from __future__ import annotations

import math
import os
import pathlib

from video_perception.eval.coco_ap import STAT_KEYS, CocoResult
from video_perception.eval.metrics import TABLES, table_rows
from video_perception.eval.results import write_json_atomic


def build_report(mode: str, coco: CocoResult | None, **extra) -> dict:
    """The JSON report of one evaluation (``extra`` keys are added as they are)."""
    report: dict = {'mode': mode}
    if coco is not None:
        report.update({k: coco.stats[k] for k in STAT_KEYS})
        report['n_images'] = coco.n_images
    report.update(extra)
    return report


def markdown(header, rows) -> str:
    """A markdown table: ``header`` cells, then one line per row; numbers right-aligned."""
    lines = ['| ' + ' | '.join(header) + ' |', '|---|' + '---:|' * (len(header) - 1)]
    return '\n'.join(lines + ['| ' + ' | '.join(map(str, r)) + ' |' for r in rows])


def markdown_table(report: dict) -> str:
    """The report for people: the AP table (percent), the quantity table and, for a replay, its
    counts; each row is the one its registered metric writes (``metrics.METRICS``)."""
    tables = [markdown(TABLES[name], rows) for name, rows in table_rows(report).items() if rows]
    return '\n\n'.join(tables) + '\n'


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
    md = path.with_suffix('.md')
    tmp = md.with_name(f'.{md.name}.tmp-{os.getpid()}')
    try:  # both written before either replaces the old pair; a stop leaves no temporary file
        tmp.write_text(markdown_table(report), encoding='utf-8')
        write_json_atomic(path, _json_safe(report))
        tmp.replace(md)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path, md
