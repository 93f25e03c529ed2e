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

from bench_common import machine_lines
from demo import demo_env
from demo_steps import (BIN, ClipSpec, DemoError, Procs, Recorder, STREAMNET_BUNDLE, V2I_BUNDLE,
                        _last_line, _node_cmd, run_tool)
from soak_report import soak_figure, soak_markdown

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
        return {'slope_per_h': None, 'intercept': None, 'drift': None, 'noise': None,
                'flat': None, 'n': len(t_s)}
    a, b, resid = fit_line(t_s, y)
    drift = a * float(np.ptp(t_s))
    noise = max(2.0 * resid, floor)
    return {'slope_per_h': a * 3600.0, 'intercept': b, 'drift': drift, 'noise': noise,
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
        for c in clips:   # reliable: a 6.6 MiB frame is not lost to one missing fragment
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
    text = soak_markdown(result)
    (out / 'soak.md').write_text(text)
    soak_figure(result, out / 'soak.png')
    print(text)
    print(f'soak: wrote {", ".join(str(out / f) for f in OUTPUTS)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
