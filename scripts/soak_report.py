"""``scripts/soak.py``'s outputs: the markdown section (soak.md) and the figure (soak.png)."""
from __future__ import annotations

import pathlib

import numpy as np

from bench_common import fmt, md_table


def _flat_word(f: dict) -> str:
    if f['flat'] is None:
        return 'n/a'
    return 'yes' if f['flat'] else ('no (grows)' if f['drift'] > 0 else 'no (falls)')


def _diag(n: dict, i: int, key: str) -> str:
    """A /diagnostics value of sample ``i`` of those after the warm-up (its window of 300
    frames would hold the warm-up's light-load frames before)."""
    kept = [s for s in n['samples'] if s['t'] >= n['warmup_s']]
    return kept[i].get(key, 'n/a') if kept else 'n/a'


def _lat(d: dict) -> str:
    return f"{fmt(d['median'], 0)} / {fmt(d['p95'], 0)}"


def soak_markdown(result: dict) -> str:
    rows = []
    for name, n in result['nodes'].items():
        rows.append([name, f"{n['duration_s'] / 60:.1f} min",
                     f"{n['node_hz']:.1f} / {n['publish_hz']:.1f}, "
                     f"{fmt(n['publish_hz_achieved'])}",
                     f"{n['published']} / {n['received_node']} / {n['served']} / "
                     f"{n['dropped_node']}",
                     f"{fmt(n['rss_start_mib'])} / {fmt(n['rss_end_mib'])} / "
                     f"{fmt(n['rss']['slope_per_h'], 2)}",
                     _flat_word(n['rss']),
                     _lat(n['latency_first_minute_ms']), _lat(n['latency_last_minute_ms']),
                     'yes' if n['no_queue_growth'] else 'no'])
    headers = ['node', 'duration', 'node Hz (warm-up) / publish Hz set, achieved',
               'frames published / received / served / dropped',
               'RSS start / end MiB, slope MiB/h', 'RSS flat', 'latency first minute p50 / p95 ms',
               'latency last minute p50 / p95 ms', 'no queue growth']
    lines = [f"## Soak: {result['width']}x{result['height']}, publisher at twice the node's rate",
             '', md_table(headers, rows), '']
    for name, n in result['nodes'].items():
        r, lt = n['rss'], n['latency_trend']
        lines.append(
            f"- {name}: RSS drift {fmt(r['drift'], 2)} MiB over the run after {n['warmup_s']:.0f}"
            f" s warm-up vs noise {fmt(r['noise'], 2)} MiB ({r['n']} samples); end-to-end "
            f"latency drift {fmt(lt['drift'], 0)} ms vs noise {fmt(lt['noise'], 0)} ms; served "
            f"{n['served_hz_first_minute']:.1f} Hz in the first {n['minute_s']:.0f} s, "
            f"{n['served_hz_last_minute']:.1f} Hz in the last; /diagnostics latency median "
            f"{_diag(n, 0, 'latency_ms_median')} ms at the first sample after the warm-up, "
            f"{_diag(n, -1, 'latency_ms_median')} ms at the last (model "
            f"{_diag(n, 0, 'model_ms_median')} -> {_diag(n, -1, 'model_ms_median')} ms); node "
            f"counts: received "
            f"{n['received_node']}, processed {n['processed_node']}, dropped {n['dropped_node']}")
    lines += ['', 'Latency: Image published (`publish --times`) to Detection2DArray received, '
              'same clock; it includes the DDS transfer of a 6.6 MiB frame, which the node\'s '
              '/diagnostics latency (receive to publish) does not. Received: frames DDS '
              'delivered to the node\'s callback (KEEP_LAST 10 history: DDS replaces samples '
              'a busy reader has not taken yet); dropped: frames the node replaced by a newer '
              'one before its worker reached them. RSS: VmRSS of each node process every '
              f"{result['interval_s']:g} s; slope by least squares after the warm-up; flat "
              'when slope x duration is within twice the residual standard deviation (for RSS at '
              f"least {result.get('rss_floor', 1.0):g} MiB; for latency at least one node "
              'period). '
              'A run shorter than two minutes compares its halves, not minutes. '
              'Both nodes ran at once, ONNX Runtime with 1 thread each.', ''] + result['machine']
    return '\n'.join(lines) + '\n'


def soak_figure(result: dict, path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax_rss, ax_lat) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True)
    for (name, n), colour in zip(result['nodes'].items(), ('tab:blue', 'tab:orange')):
        t = np.array([s['t'] for s in n['samples']]) / 60.0
        ax_rss.plot(t, [s['rss_mib'] for s in n['samples']], 'o-', color=colour, label=name)
        fit = [s['t'] for s in n['samples'] if s['t'] >= n['warmup_s']]
        if n['rss']['slope_per_h'] is not None:
            ends = np.array([fit[0], fit[-1]])
            ax_rss.plot(ends / 60.0, n['rss']['slope_per_h'] / 3600.0 * ends
                        + n['rss']['intercept'], '--', color=colour,
                        label=f"{name}: fit, {fmt(n['rss']['slope_per_h'])} MiB/h")
        ax_lat.plot(t, [float(s.get('latency_ms_median', 'nan')) for s in n['samples']], 'o-',
                    color=colour, label=f'{name}: /diagnostics latency median')
        ax_lat.plot(t, [float(s.get('model_ms_median', 'nan')) for s in n['samples']], ':',
                    color=colour, label=f'{name}: /diagnostics model median')
    for (name, n), colour in zip(result['nodes'].items(), ('tab:blue', 'tab:orange')):
        e2e = n['e2e_windows']
        ax_lat.plot(np.array(e2e['t']) / 60.0, e2e['median'], 's--', color=colour,
                    label=f'{name}: end-to-end median')
    warm = next(iter(result['nodes'].values()))['warmup_s'] / 60.0
    ax_rss.set_ylabel('RSS (MiB)')
    ax_rss.set_ylim(bottom=0)
    ax_rss.set_title(f"Soak at {result['width']}x{result['height']}, publisher at 2x the node "
                     'rate (grey: warm-up, left out of the fits)')
    ax_lat.set_ylabel('latency (ms)')
    ax_lat.set_xlabel('minutes')
    ax_lat.set_ylim(bottom=0)
    for ax in (ax_rss, ax_lat):
        ax.axvspan(0, warm, color='0.9')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
