"""``make soak``: both detector nodes under a publisher twice as fast as their model, for minutes.

streamnet_node (models/streamnet_tiny_synth) and v2i_node (models/v2i_distill_tiny_vocalfolds)
run side by side in their own processes over DDS on loopback; ``video-perception publish
sim:1920x1200`` feeds each at twice the rate the node sustains (measured first in a short
warm-up at a light load: 1000 / its /diagnostics ``latency_ms_median``, receive to publish with the
model inside; or ``--rate``; capped at ``--max-rate``). Every ``--interval``
seconds the script samples each node's resident memory (``VmRSS`` in /proc/PID/status) and its
/diagnostics counts and latencies; afterwards it joins the publishers' ``--times`` files with the
detections' arrival times for the end-to-end latency of every served frame.

Verdicts (after the warm-up, the first minute, or a quarter of a shorter run, is left out):
RSS is flat when the least-squares drift over the run (slope x duration) is within the samples'
own spread (twice the residual standard deviation, at least ``--rss-floor`` MiB); no queue grows
when the end-to-end latency is flat in the same sense (its floor: one model period), the node's
dropped-frame count grows, and the frames served per second in the last minute keep pace with
the first. Writes OUT/soak.json, OUT/soak.md (a markdown section) and OUT/soak.png.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

from bench_common import fmt, machine_lines, md_table
from demo import demo_env
from demo_steps import (BIN, ClipSpec, DemoError, Procs, Recorder, STREAMNET_BUNDLE, V2I_BUNDLE,
                        _last_line, _node_cmd, run_tool)

REPO = pathlib.Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1920, 1200
WARMUP_S = 60.0
OUTPUTS = ('soak.json', 'soak.md', 'soak.png')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--minutes', type=float, default=10.0, help='soak duration (default 10)')
    p.add_argument('--out', default=str(REPO / 'docs' / 'soak'), help='output folder')
    p.add_argument('--models', default=str(REPO / 'models'), help='folder of the bundles')
    p.add_argument('--interval', type=float, default=10.0, help='sampling period in s')
    p.add_argument('--rate', type=float, default=None,
                   help='publish rate in Hz for both nodes (default: 2x the measured node rate)')
    p.add_argument('--max-rate', type=float, default=60.0, help='cap on the measured 2x rate')
    p.add_argument('--rss-floor', type=float, default=1.0,
                   help='MiB of RSS change always counted as noise (allocator granularity)')
    p.add_argument('--force', action='store_true', help='overwrite existing outputs')
    return p


# -- analysis (pure functions, tested in test/test_soak.py) ---------------------------------------
def fit_line(t, y) -> tuple:
    """Least squares y = a*t + b: (a, b, residual standard deviation), closed form."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    tm, ym = t.mean(), y.mean()
    a = float(((t - tm) * (y - ym)).sum() / ((t - tm) ** 2).sum())
    b = float(ym - a * tm)
    return a, b, float(np.sqrt(np.mean((y - (a * t + b)) ** 2)))


def flatness(t_s, y, floor: float = 0.0) -> dict:
    """Slope per hour of ``y`` over ``t_s`` (seconds), the drift it implies over the span, and
    whether that drift is within the noise: max(2 x residual std, ``floor``)."""
    t_s, y = np.asarray(t_s, float), np.asarray(y, float)
    if len(t_s) < 3 or np.ptp(t_s) <= 0:
        return {'slope_per_h': None, 'drift': None, 'noise': None, 'flat': None, 'n': len(t_s)}
    a, _, resid = fit_line(t_s, y)
    drift = a * float(np.ptp(t_s))
    noise = max(2.0 * resid, floor)
    return {'slope_per_h': a * 3600.0, 'drift': drift, 'noise': noise,
            'flat': bool(abs(drift) <= noise), 'n': int(len(t_s))}


def warmup_s(duration_s: float) -> float:
    """The first minute, or a quarter of a run shorter than four minutes."""
    return min(WARMUP_S, duration_s / 4.0)


def window(t, y, lo: float, hi: float) -> np.ndarray:
    t, y = np.asarray(t, float), np.asarray(y, float)
    return y[(t >= lo) & (t < hi)]


def med_p95(values) -> dict:
    v = np.asarray(values, float)
    if not len(v):
        return {'median': None, 'p95': None, 'n': 0}
    return {'median': float(np.median(v)), 'p95': float(np.percentile(v, 95)), 'n': int(len(v))}


def rss_mib(pid: int) -> float:
    """Resident set size of a live process from /proc/PID/status (VmRSS, kB) in MiB."""
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    raise ValueError(f'/proc/{pid}/status: no VmRSS line (a zombie or kernel thread?)')


# -- the run --------------------------------------------------------------------------------------
def _diag_of(rec: Recorder, c: ClipSpec) -> dict:
    with rec.lock:
        return next((dict(v) for k, v in rec.diag.items() if k.split(':')[0] == c.node_name), {})


def _publish(procs: Procs, c: ClipSpec, env, rate: float, count: int, times: pathlib.Path):
    cmd = [BIN / 'video-perception', 'publish', f'sim:{WIDTH}x{HEIGHT}', '--topic',
           f'{c.ns}/image', '--rate', f'{rate:.3f}', '--count', count, '--times', times,
           '--wait-subscribers', 10]
    return procs.start(cmd, env, times.with_suffix('.log'))


def _model_rates(rec, clips, procs, env, work: pathlib.Path) -> dict:
    """Frames per second each node sustains, both loaded at once, at a light load: 1000 over its
    /diagnostics latency_ms_median (receive to publish: decode, model, detections out)."""
    pubs = [_publish(procs, c, env, 4.0, 32, work / f'warmup_{c.name}.txt') for c in clips]
    for p in pubs:
        p.wait(120)
    time.sleep(1.5)   # one more /diagnostics period
    rates = {}
    for c in clips:
        node_ms = float(_diag_of(rec, c).get('latency_ms_median', 'nan'))
        if not np.isfinite(node_ms) or node_ms <= 0:
            raise DemoError(f'{c.executable}: no latency_ms_median in /diagnostics after warm-up')
        rates[c.name] = 1000.0 / node_ms
    return rates


def run_soak(args, work: pathlib.Path, procs: Procs) -> dict:
    models = pathlib.Path(args.models)
    clips = [ClipSpec('streamnet', 'streamnet_node', models / STREAMNET_BUNDLE),
             ClipSpec('v2i', 'v2i_node', models / V2I_BUNDLE)]
    for c in clips:
        if not (c.bundle / 'model.json').is_file():
            raise DemoError(f'{c.executable}: no bundle {c.bundle}/model.json')
    env = demo_env()
    os.environ.update({k: env[k] for k in ('ROS_DOMAIN_ID', 'ROS_LOCALHOST_ONLY',
                                           'ROS_AUTOMATIC_DISCOVERY_RANGE')})
    from video_perception import msgs
    from video_perception.transport.base import QOS_DEFAULT
    rec = Recorder([])   # /diagnostics only: not the camera frames, a load of their own
    for c in clips:
        rec.dets[c.name] = []
        rec.t.create_subscription(msgs.Detection2DArray, f'{c.ns}/detections',
                                  rec._det(c.name), QOS_DEFAULT)
    try:
        nodes = {}
        for c in clips:   # reliable: every frame reaches the node, which keeps only the newest
            nodes[c.name] = procs.start(_node_cmd(c) + ['-p', 'reliability:=reliable'], env,
                                        work / f'{c.name}_node.log')
        for c in clips:   # LabelInfo is latched: once it arrives, the node is serving
            run_tool(['echo', f'{c.ns}/detections/labels', '--type', 'LabelInfo', '--count', 1,
                      '--timeout', 120], env, c.executable, timeout=150)
        node_hz = _model_rates(rec, clips, procs, env, work)
        rates = {c.name: args.rate or min(2.0 * node_hz[c.name], args.max_rate) for c in clips}
        duration = args.minutes * 60.0
        print('soak: ' + ', '.join(f'{c.executable} sustains {node_hz[c.name]:.1f} Hz, publishing '
                                   f'{rates[c.name]:.1f} Hz' for c in clips)
              + f' at {WIDTH}x{HEIGHT} for {duration:.0f} s', flush=True)
        with rec.lock:
            n0 = {c.name: len(rec.dets[c.name]) for c in clips}
        base = {c.name: _diag_of(rec, c) for c in clips}   # the warm-up's counts, taken off
        t0 = time.monotonic()
        pubs = {c.name: _publish(procs, c, env, rates[c.name],
                                 int(round(rates[c.name] * duration)),
                                 work / f'times_{c.name}.txt') for c in clips}
        samples = {c.name: [] for c in clips}
        next_t = t0
        while any(p.poll() is None for p in pubs.values()):
            next_t += args.interval
            time.sleep(max(0.0, next_t - time.monotonic()))
            for c in clips:
                if nodes[c.name].poll() is not None:
                    raise DemoError(f'{c.executable} exited {nodes[c.name].returncode} during '
                                    f'the soak: {_last_line(work / f"{c.name}_node.log")}')
                samples[c.name].append(dict(_diag_of(rec, c), t=time.monotonic() - t0,
                                            rss_mib=rss_mib(nodes[c.name].pid)))
        time.sleep(1.5)
        with rec.lock:
            dets = {c.name: [(t - t0, s) for t, s, _ in rec.dets[c.name][n0[c.name]:]]
                    for c in clips}
        for c in clips:
            if pubs[c.name].returncode != 0:
                raise DemoError(f'publish for {c.executable} exited {pubs[c.name].returncode}: '
                                f'{_last_line(work / f"times_{c.name}.log")}')
    finally:
        rec.close()
    from video_perception.tools.publish import read_times
    result = {'width': WIDTH, 'height': HEIGHT, 'minutes': args.minutes,
              'interval_s': args.interval, 'rss_floor': args.rss_floor,
              'machine': machine_lines(1), 'nodes': {}}
    for c in clips:
        sent = {s: t - t0 for s, t in read_times(work / f'times_{c.name}.txt').items()}
        bundle = c.bundle.relative_to(REPO) if c.bundle.is_relative_to(REPO) else c.bundle
        result['nodes'][c.executable] = analyse(
            samples[c.name], sent, dets[c.name], duration, node_hz[c.name], rates[c.name],
            args.rss_floor, base[c.name], str(bundle))
    return result


def analyse(samples, sent: dict, dets, duration: float, node_hz: float, rate: float,
            rss_floor: float, base: dict, bundle: str) -> dict:
    """One node's figures: samples from the run, {stamp: publish s}, [(arrival s, stamp)],
    ``base``: the node's /diagnostics counts when the soak began."""
    t = [s['t'] for s in samples]
    pub_t = sorted(sent.values())
    # the publisher may fall behind its rate: the run lasts as long as it publishes
    duration = max(duration, pub_t[-1]) if pub_t else duration
    warm = warmup_s(duration)
    minute = min(60.0, duration / 2.0)
    rss = [s['rss_mib'] for s in samples]
    kept = [i for i, x in enumerate(t) if x >= warm]
    lat = [(a, (a - sent[s]) * 1000.0) for a, s in dets if s in sent]
    lat_t = [a for a, _ in lat]
    lat_ms = [v for _, v in lat]
    late = [(a, v) for a, v in lat if a >= warm]
    last = samples[-1] if samples else {}
    first_kept = samples[kept[0]] if kept else {}
    dropped = [int(s.get('frames_dropped', 0)) for s in samples]
    served_first = len(window(lat_t, lat_t, 0.0, minute)) / minute
    served_last = len(window(lat_t, lat_t, duration - minute, duration + 1e9)) / minute
    lat_flat = flatness([a for a, _ in late], [v for _, v in late], 1000.0 / node_hz)
    out = {
        'bundle': bundle, 'duration_s': duration, 'warmup_s': warm, 'minute_s': minute,
        'node_hz': node_hz,
        'publish_hz': rate, 'published': len(sent),
        'publish_hz_achieved': ((len(pub_t) - 1) / (pub_t[-1] - pub_t[0])
                                if len(pub_t) > 1 else None),
        'served': len(lat),
        'received_node': (int(last.get('frames_received', 0))
                          - int(base.get('frames_received', 0))),
        'processed_node': (int(last.get('frames_processed', 0))
                           - int(base.get('frames_processed', 0))),
        'dropped_node': (dropped[-1] if dropped else 0) - int(base.get('frames_dropped', 0)),
        'rss_start_mib': rss[kept[0]] if kept else None, 'rss_end_mib': rss[-1] if rss else None,
        'rss': flatness([t[i] for i in kept], [rss[i] for i in kept], rss_floor),
        'latency_first_minute_ms': med_p95(window(lat_t, lat_ms, 0.0, minute)),
        'latency_last_minute_ms': med_p95(window(lat_t, lat_ms, duration - minute, 1e12)),
        'latency_trend': lat_flat,
        'served_hz_first_minute': served_first, 'served_hz_last_minute': served_last,
        'dropped_grew': bool(kept) and dropped[-1] > int(first_kept.get('frames_dropped', 0)),
        'samples': samples,
        'e2e_windows': {'t': t, 'median': [
            med_p95(window(lat_t, lat_ms, lo, hi))['median'] for lo, hi in zip([0.0] + t, t)]},
    }
    out['no_queue_growth'] = bool(lat_flat['flat'] and out['dropped_grew']
                                  and served_last >= 0.8 * served_first)
    return out


# -- outputs --------------------------------------------------------------------------------------
def _flat_word(f: dict) -> str:
    if f['flat'] is None:
        return 'n/a'
    return 'yes' if f['flat'] else ('no (grows)' if f['drift'] > 0 else 'no (falls)')


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
            f"{n['served_hz_last_minute']:.1f} Hz in the last; model "
            f"{n['samples'][-1].get('model_ms_median', 'n/a')} ms median at the end; node "
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
        fit = [s for s in n['samples'] if s['t'] >= n['warmup_s']]
        if len(fit) >= 2:
            a, b, _ = fit_line([s['t'] for s in fit], [s['rss_mib'] for s in fit])
            ends = np.array([fit[0]['t'], fit[-1]['t']])
            ax_rss.plot(ends / 60.0, a * ends + b, '--', color=colour,
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


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    out = pathlib.Path(args.out)
    clash = [str(out / f) for f in OUTPUTS if (out / f).exists()]
    if clash and not args.force:
        print(f'soak: {clash[0]} exists (--force to overwrite)', file=sys.stderr)
        return 2
    if args.minutes <= 0 or args.interval <= 0:
        print('soak: --minutes and --interval must be positive', file=sys.stderr)
        return 2
    import tempfile
    procs = Procs()
    with tempfile.TemporaryDirectory(prefix='soak-') as work:
        try:
            result = run_soak(args, pathlib.Path(work), procs)
        except (DemoError, subprocess.TimeoutExpired, OSError) as exc:
            print(f'soak: {exc}', file=sys.stderr)
            return 1
        finally:
            procs.stop_all()
    out.mkdir(parents=True, exist_ok=True)
    (out / 'soak.json').write_text(json.dumps(result, indent=1))
    (out / 'soak.md').write_text(soak_markdown(result))
    soak_figure(result, out / 'soak.png')
    print(soak_markdown(result))
    print(f'soak: wrote {", ".join(str(out / f) for f in OUTPUTS)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
