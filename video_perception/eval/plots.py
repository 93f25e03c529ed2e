"""PNG plots of an evaluation (matplotlib, Agg backend: no display needed).

- precision-recall curves from COCOeval's precision array at IoU 0.5 and 0.75;
- sAP_K against K, several series (models, latencies) on one plot;
- latency histogram with the median and p95 marked;
- a latency sweep: streaming AP against runtime with the offline AP as the ceiling, and the
  deadline-miss rate and stale share below it.
"""
from __future__ import annotations

import os
import pathlib
import shutil

import matplotlib

matplotlib.use('Agg')
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from video_perception.eval.coco_ap import CocoResult, precision_recall_curves  # noqa: E402
from video_perception.eval.latency import latency_stats  # noqa: E402
from video_perception.tools.cli_common import raise_if_stopped  # noqa: E402


def _save(fig, path) -> pathlib.Path:
    """``fig`` as the PNG ``path``, written to a hidden temporary renamed onto it; an exception
    (a stop, a full disk) removes the temporary and leaves ``path`` as it was."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
    try:
        fig.tight_layout()
        fig.savefig(tmp, dpi=120, format='png')
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return path


def plot_pr_curves(result: CocoResult, path, title: str = 'Precision-recall',
                   class_names: dict[int, str] | None = None) -> pathlib.Path:
    """Category-averaged precision-recall curves at IoU 0.5 and 0.75 (area all, 100 dets).

    With ``class_names`` (category id -> name), adds thin per-category curves at IoU 0.5.
    """
    fig, ax = plt.subplots(figsize=(8.2, 4.8) if class_names else (6, 4.8))
    ev = result.coco_eval
    if class_names:
        prec = ev.eval['precision'][0, :, :, 0, -1]  # [R, K] at IoU 0.5
        # tab10 without its red and grey, which the averaged curves and the grid use
        colors = [c for i, c in enumerate(plt.cm.tab10.colors) if i not in (3, 7)]
        n = 0
        for j, cat in enumerate(ev.params.catIds):
            if (prec[:, j] > -1).all():
                ax.plot(ev.params.recThrs, prec[:, j], lw=1.0, alpha=0.8,
                        color=colors[n % len(colors)],
                        label=f'{class_names.get(cat, cat)}, IoU 0.5')
                n += 1
    for iou, style in ((0.5, '-'), (0.75, '--')):
        recall, precision = precision_recall_curves(result, iou)
        ap = float(np.nanmean(precision)) if np.isfinite(precision).any() else float('nan')
        ax.plot(recall, precision, style, lw=2.2, color='k' if iou == 0.5 else 'tab:red',
                label=f'all classes, IoU {iou:g} (AP {100 * ap:.1f})')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel('recall')
    ax.set_ylabel('precision (interpolated, COCOeval)')
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if class_names:  # outside: per-class curves fill every corner of the axes
        ax.legend(fontsize=8, loc='upper left', bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    else:
        ax.legend(fontsize=8, loc='upper right')
    return _save(fig, path)


def plot_sap_k(series: dict[str, dict[int, float]], path,
               title: str = 'K-step sAP against K') -> pathlib.Path:
    """series: name -> {K: AP (fraction)}; one line per series, AP shown in percent."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    top = 0.0
    for name, values in series.items():
        ks = sorted(values)
        aps = [100 * values[k] for k in ks]
        top = max(top, max(aps, default=0))
        ax.plot(ks, aps, marker='o', label=name)
    all_k = sorted({k for v in series.values() for k in v})
    ax.set_xticks(all_k)
    ax.set_xlabel('K (output of frame t scored against ground truth t + K)')
    ax.set_ylabel('sAP_K (AP@[.5:.95], %)')
    ax.set_ylim(0, max(1.0, top * 1.15))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_latency_histogram(latencies_s, path, title: str = 'Latency',
                           frame_period_s: float | None = None) -> pathlib.Path:
    """Histogram of latencies (seconds in, milliseconds on the axis) with median and p95 lines;
    ``frame_period_s`` adds the frame budget (1 / fps) as a third line."""
    lat_ms = 1000 * np.asarray(latencies_s, dtype=np.float64)
    stats = latency_stats(lat_ms)
    fig, ax = plt.subplots(figsize=(6, 4))
    # a fixed latency (--latency 0.02) gives values equal up to float noise, which numpy cannot
    # split into finite bins ("Too many bins for data range"): give such data a 1 ms range
    span = (float(lat_ms.min()), float(lat_ms.max())) if lat_ms.size else (0.0, 1.0)
    if span[1] - span[0] < 1e-3:
        span = (span[0] - 0.5, span[1] + 0.5)
    ax.hist(lat_ms, bins=min(60, max(10, len(lat_ms) // 10)), range=span, color='tab:blue',
            alpha=0.75, label=f'{stats["n"]} outputs')
    if stats['n']:
        ax.axvline(stats['median'], color='k', lw=1.5,
                   label=f"median {stats['median']:.1f} ms")
        ax.axvline(stats['p95'], color='tab:red', ls='--', lw=1.5,
                   label=f"p95 {stats['p95']:.1f} ms")
    if frame_period_s:
        ax.axvline(1000 * frame_period_s, color='tab:green', ls=':', lw=1.5,
                   label=f'frame period {1000 * frame_period_s:.1f} ms')
    ax.set_xlabel('latency: finish time - input frame time (ms)')
    ax.set_ylabel('outputs')
    ax.set_xlim(left=0)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_latency_sweep(points: list[dict], ceiling_ap: float | None, path,
                       frame_period_s: float | None = None, sap_1: float | None = None,
                       title: str = 'Streaming AP against latency',
                       streamer: list[dict] | None = None,
                       streamer_label: str = 'Streamer') -> pathlib.Path:
    """points: ``replay.scoring.sweep_point`` dicts (runtime_median_ms, AP, deadline_miss,
    stale, speed); ``ceiling_ap``: the offline AP with every frame processed (fraction), the
    streaming AP at zero latency; ``sap_1``: sAP_1 of every frame, the streaming AP of a
    detector always done within one frame (above the offline AP for a forecasting model);
    ``streamer``: the same speeds with Streamer's forecasting (and schedule), drawn beside."""
    pts = sorted((p for p in points if np.isfinite(p['runtime_median_ms'])),
                 key=lambda p: p['runtime_median_ms'])
    x = np.array([p['runtime_median_ms'] for p in pts])

    def pct(key):
        return np.array([np.nan if p[key] is None or p[key] < 0 else 100 * p[key] for p in pts])
    fig, (top, low) = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True,
                                   gridspec_kw={'height_ratios': (3, 2)})
    ap = pct('AP')
    top.plot(x, ap, marker='o', lw=2, color='tab:blue', label='streaming AP')
    for xi, yi, p in zip(x, ap, pts):
        top.annotate(f"x{p['speed']:g}", (xi, yi), textcoords='offset points', xytext=(0, 7),
                     ha='center', fontsize=8)
    tops = [np.nanmax(ap) if np.isfinite(ap).any() else 0.0]
    if streamer:
        spts = sorted((p for p in streamer if np.isfinite(p['runtime_median_ms'])),
                      key=lambda p: p['runtime_median_ms'])
        sap = np.array([np.nan if p['AP'] is None or p['AP'] < 0 else 100 * p['AP']
                        for p in spts])
        top.plot([p['runtime_median_ms'] for p in spts], sap, marker='D', lw=2,
                 color='tab:brown', label=f'streaming AP, {streamer_label}')
        tops.append(np.nanmax(sap) if np.isfinite(sap).any() else 0.0)
    if ceiling_ap is not None and ceiling_ap >= 0:
        top.axhline(100 * ceiling_ap, color='k', ls='--', lw=1.3,
                    label=f'offline AP, every frame ({100 * ceiling_ap:.1f})')
        tops.append(100 * ceiling_ap)
    if sap_1 is not None and sap_1 >= 0:
        top.axhline(100 * sap_1, color='tab:purple', ls=':', lw=1.3,
                    label=f'sAP_1, every frame in one period ({100 * sap_1:.1f})')
        tops.append(100 * sap_1)
    top.set_ylim(0, max(1.0, max(tops) * 1.2))
    top.set_ylabel('AP@[.5:.95] (%)')
    top.set_title(title)
    low.plot(x, pct('deadline_miss'), marker='s', color='tab:red', label='deadline-miss rate')
    low.plot(x, pct('stale'), marker='^', color='tab:orange',
             label='GT frames served a stale output')
    low.set_ylim(-3, 103)
    low.set_ylabel('%')
    low.set_xlabel('detector runtime per frame, median (ms; speed factor above each point)')
    for ax in (top, low):
        if frame_period_s:
            ax.axvline(1000 * frame_period_s, color='tab:green', ls=':', lw=1.5,
                       label=f'frame period {1000 * frame_period_s:.1f} ms')
        if len(x) and x.min() > 0:
            ax.set_xscale('log', base=2)
            ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f'{v:g}'))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc='best')
    return _save(fig, path)


def plot_report(folder, coco: CocoResult, latencies_s=None, sap_k: dict | None = None,
                mode: str = 'streaming', series: str = 'replay',
                frame_period_s: float | None = None) -> list[pathlib.Path]:
    """The plots of one report in ``folder``: pr_curves.png, latency.png (when outputs have
    finish times) and sap_k.png (with a sweep, as the series ``series``).

    All of them are drawn into a hidden sibling folder (``.FOLDER.partial-PID``) and moved into
    ``folder`` together once the last is drawn (``evaluate --plots DIR`` may name a folder that
    holds other files, which stay): a stop or an error while drawing leaves no temporary, no
    folder this call made, and every file that was there as it was."""
    folder = pathlib.Path(folder)
    made = [p for p in (folder.absolute(), *folder.absolute().parents) if not p.exists()]
    folder.parent.mkdir(parents=True, exist_ok=True)
    stage = folder.parent / f'.{folder.name}.partial-{os.getpid()}'
    try:
        staged = [plot_pr_curves(coco, stage / 'pr_curves.png',
                                 title=f'Precision-recall ({mode})')]
        if latencies_s is not None and len(latencies_s):
            staged.append(plot_latency_histogram(latencies_s, stage / 'latency.png',
                                                 frame_period_s=frame_period_s))
        if sap_k:
            staged.append(plot_sap_k({series: sap_k}, stage / 'sap_k.png'))
        raise_if_stopped()  # a stop a library (matplotlib, its fonts) swallowed: none is moved
        folder.mkdir(exist_ok=True)
        out = [folder / p.name for p in staged]
        for src, dst in zip(staged, out):
            src.replace(dst)
    except BaseException:
        if made:
            shutil.rmtree(made[-1], ignore_errors=True)
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return out
