"""scripts/soak.py: its analysis against hand computations and numpy.polyfit; a short real soak."""
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'scripts'))

import soak  # noqa: E402


def test_slope_and_verdict_by_hand():
    # tm = 90, ym = 102; sum (t-tm)(y-ym) = 420, sum (t-tm)^2 = 18000: a = 420 / 18000 MiB/s,
    # b = 99.9, residuals 0.1, -0.3, 0.3, -0.1 (rms sqrt(0.05)), drift a * 180 = 4.2 MiB
    t, y = [0, 60, 120, 180], [100, 101, 103, 104]
    a, b, resid = soak.fit_line(t, y)
    assert a == pytest.approx(420 / 18000) and b == pytest.approx(99.9)
    assert resid == pytest.approx(0.05 ** 0.5)
    f = soak.flatness(t, y, floor=1.0)
    assert f['slope_per_h'] == pytest.approx(84.0)
    assert f['drift'] == pytest.approx(4.2) and f['noise'] == pytest.approx(1.0)
    assert f['flat'] is False                       # 4.2 MiB of drift against 1 MiB of noise
    assert soak.flatness(t, y, floor=5.0)['flat'] is True
    assert soak.flatness(t[:2], y[:2])['flat'] is None   # two points make no verdict


def test_slope_matches_polyfit_and_tells_a_leak_from_noise():
    rng = np.random.default_rng(3)
    t = np.arange(60.0, 601.0, 10.0)                # a 10-minute soak after the warm-up
    noise = rng.normal(0.0, 3.0, len(t))            # MiB: frames of 6.6 MiB come and go
    flat = soak.flatness(t, 200.0 + noise, floor=1.0)
    ref = np.polyfit(t, 200.0 + noise, 1)[0] * 3600.0
    assert flat['slope_per_h'] == pytest.approx(ref, rel=1e-9)
    assert flat['flat'] is True
    leak = 200.0 + noise + 0.1 * t                  # 0.1 MiB/s = 360 MiB/h: 54 MiB over the run
    f = soak.flatness(t, leak, floor=1.0)
    assert f['slope_per_h'] == pytest.approx(np.polyfit(t, leak, 1)[0] * 3600.0, rel=1e-9)
    assert f['slope_per_h'] == pytest.approx(360.0, abs=30.0)
    assert f['flat'] is False


def test_warmup_is_the_first_minute_or_a_quarter():
    assert soak.warmup_s(600.0) == 60.0
    assert soak.warmup_s(30.0) == 7.5


def _run(serve_hz, newest_only, seconds=120.0, pub_hz=20.0):
    """A node fed at pub_hz serving serve_hz: the newest frame each time, or a FIFO queue."""
    sent = {i: i / pub_hz for i in range(int(seconds * pub_hz))}
    dets, samples, dropped = [], [], 0
    for k in range(int(seconds * serve_hz)):
        now = (k + 1) / serve_hz
        stamp = int(round(now * pub_hz)) - 2 if newest_only else k   # taken one period ago
        dets.append((now + 0.01, stamp))
        dropped = stamp - k if newest_only else 0
        if k % int(10 * serve_hz) == 0:
            samples.append({'t': now, 'rss_mib': 150.0, 'frames_dropped': str(dropped)})
    return soak.analyse(samples, sent, dets, seconds, serve_hz, pub_hz, 1.0, {}, 'b')


def test_queue_growth_is_told_from_newest_frame_serving():
    good = _run(10.0, newest_only=True)
    assert good['published'] == 2400 and good['served'] == 1200
    assert good['latency_last_minute_ms']['median'] == pytest.approx(110.0, abs=1.0)
    assert good['dropped_grew'] and good['no_queue_growth'] is True
    assert good['rss']['flat'] is True and good['rss']['slope_per_h'] == pytest.approx(0.0)
    queue = _run(10.0, newest_only=False)          # FIFO: frame k waits k/10 - k/20 s
    assert queue['latency_last_minute_ms']['median'] > 20 * 1000 * 0.9
    assert queue['no_queue_growth'] is False


def test_report_names_each_node_and_draws(tmp_path):
    result = {'width': 1920, 'height': 1200, 'interval_s': 10.0, 'rss_floor': 1.0,
              'machine': ['- CPU: test'], 'nodes': {'streamnet_node': _run(10.0, True),
                                                    'v2i_node': _run(10.0, False)}}
    text = soak.soak_markdown(result)
    rows = [ln for ln in text.splitlines() if ln.startswith('| ') and ln[2:6] != 'node']
    assert [r.split(' | ')[0] for r in rows] == ['| streamnet_node', '| v2i_node']
    assert rows[0].endswith('| yes |') and rows[1].endswith('| no |')
    assert '2400 / 0 / 1200 / ' in rows[0]           # published / received / served / dropped
    soak.soak_figure(result, tmp_path / 'soak.png')
    assert (tmp_path / 'soak.png').read_bytes()[:4] == b'\x89PNG'


@pytest.mark.slow
def test_soak_end_to_end(tmp_path):
    out = tmp_path / 'soak'
    res = subprocess.run([sys.executable, str(REPO / 'scripts' / 'soak.py'), '--minutes', '0.5',
                          '--interval', '3', '--out', str(out)],
                         capture_output=True, text=True, timeout=400)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert 'Traceback' not in res.stderr
    for name in soak.OUTPUTS:
        assert (out / name).stat().st_size > 0
    assert (out / 'soak.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    result = json.loads((out / 'soak.json').read_text())
    assert set(result['nodes']) == {'streamnet_node', 'v2i_node'}
    for name, n in result['nodes'].items():
        assert 0 < n['served'] <= n['published'], name
        assert n['dropped_node'] > 0, name          # twice as fast as the node: it must drop
        assert n['processed_node'] + n['dropped_node'] <= n['received_node'] + 1, name
        assert all(20.0 < s['rss_mib'] < 8000.0 for s in n['samples']), name
        for key in ('latency_first_minute_ms', 'latency_last_minute_ms'):
            assert 0.0 < n[key]['median'] < 10_000.0, (name, key)
        assert n['rss']['n'] >= 3
    assert '| streamnet_node |' in (out / 'soak.md').read_text()
    again = subprocess.run([sys.executable, str(REPO / 'scripts' / 'soak.py'), '--out', str(out)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and 'exists (--force to overwrite)' in again.stderr
