"""The benchmark report's structure (not a timing test): `scripts/bench.py --quick` on tiny models.

Checks that derived columns are computed from the numbers in the same table (ratios from medians,
FLOP/s from FLOPs and the median, the stage sum), that the header names the command, the date and
this machine's CPU as /proc/cpuinfo names it, and the helpers against numpy and a naive loop.
"""
import datetime
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'scripts'))

pytestmark = [pytest.mark.xdist_group('h11_bench')]


def run_bench(tmp_path, *args, timeout=600):
    out = tmp_path / 'BENCH.md'
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, str(REPO / 'scripts' / 'bench.py'), '--quick',
                           '--out', str(out), '--bundle-dir', str(tmp_path / 'bundles'), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out.read_text()


def table_after(text, heading):
    """Rows (dicts by header) of the first markdown table after the line starting ``heading``."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(heading))
    first = next(i for i in range(start + 1, len(lines)) if lines[i].startswith('|'))
    cells = lambda ln: [c.strip() for c in ln.strip().strip('|').split('|')]  # noqa: E731
    headers = cells(lines[first])
    assert set(lines[first + 1].replace('|', '')) == {'-'}
    rows = []
    for ln in lines[first + 2:]:
        if not ln.startswith('|'):
            break
        rows.append(dict(zip(headers, cells(ln))))
    return rows


def cpu_model_from_proc():
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return None


def test_history_ratios_come_from_the_medians_of_the_same_table(tmp_path):
    text = run_bench(tmp_path, '--only', 'history')
    assert re.search(r'Last written by `\.venv/bin/python scripts/bench\.py --quick .*--only '
                     r'history', text)
    date = re.search(r'on (\d{4}-\d{2}-\d{2}) \d{2}:\d{2} UTC', text).group(1)
    today = datetime.datetime.now(datetime.timezone.utc).date()
    assert abs((datetime.date.fromisoformat(date) - today).days) <= 1
    cpu = cpu_model_from_proc()
    if cpu:
        assert f'CPU: {cpu};' in text
    rows = table_after(text, '## 3.')
    cached, per_slot = 'N=3 + buffered reductions', 'N=3 + buffered maps, long convs per slot'
    assert [r['variant'] for r in rows] == ['N=0', cached, per_slot, 'N=3 recompute 4 frames']
    gflop = {r['variant']: float(r['GFLOP/frame']) for r in rows}
    for r in rows:
        assert float(r['FLOP ratio to N=0']) == pytest.approx(
            gflop[r['variant']] / gflop['N=0'], abs=0.002 + 0.0005 / gflop['N=0'])
    # recomputing encodes 3 more frames than the buffered model: 3 encoder passes more
    assert gflop['N=3 recompute 4 frames'] > gflop[cached] * 2.5
    # buffered reductions: the long 1x1 convs run once per frame, not on each of the 3 slots
    # (tiny 192x320: 32*5*960 + 64*10*240 + 128*21*60 MACs = 0.937 MFLOP per slot; 2 saved)
    assert gflop[per_slot] - gflop[cached] == pytest.approx(2 * 0.937e-3, abs=2e-4)
    base = float(rows[0]['median ms'])
    for r in rows:
        assert int(r['n']) == 3                      # --quick: 3 timed repetitions
        assert float(r['p95 ms']) >= float(r['median ms']) - 0.05
        # the ratio is printed to 3 decimals from unrounded medians printed to 1 decimal
        med = float(r['median ms'])
        want = med / base
        assert abs(float(r['ratio to N=0 (medians)']) - want) <= (
            0.0005 + want * (0.05 / med + 0.05 / base))


def test_interleaving_rotates_the_order_and_excludes_warmup():
    from bench_common import measure_interleaved
    calls = []
    variants = {k: (lambda k=k: calls.append(k)) for k in 'abc'}
    times = measure_interleaved(variants, reps=4, warmup=2, desc='t')
    assert calls[:6] == list('abcabc')                               # warm-up, untimed
    assert calls[6:] == list('abc' 'bca' 'cab' 'abc')                # rotated by one per rep
    assert {k: len(v) for k, v in times.items()} == {'a': 4, 'b': 4, 'c': 4}
    own = measure_interleaved({'x': lambda: 0.25}, reps=3, warmup=0, desc='t')
    assert own == {'x': [0.25, 0.25, 0.25]}                          # a callable's own time


def test_summary_matches_numpy_percentiles():
    from bench_common import summary_ms
    x = np.random.default_rng(1).gamma(2.0, 0.01, 57)
    s = summary_ms(list(x))
    assert s['median'] == pytest.approx(np.median(x) * 1000)
    assert s['p95'] == pytest.approx(np.percentile(x, 95) * 1000)
    assert s['min'] == pytest.approx(x.min() * 1000)
    assert s['spread'] == pytest.approx(np.percentile(x, 95) / np.median(x) - 1)


def test_flop_counter_counts_a_conv_and_a_linear_like_the_formula():
    import torch
    from bench_common import count_flops
    conv = torch.nn.Conv2d(3, 8, 3, padding=1).eval()
    lin = torch.nn.Linear(16, 4).eval()
    x, y = torch.rand(1, 3, 10, 12), torch.rand(5, 16)
    # 2 FLOPs per multiply-add: conv 2*Cout*H*W*Cin*k*k, linear 2*N*in*out (biases not counted)
    assert count_flops(lambda: conv(x)) == 2 * 8 * 10 * 12 * 3 * 9
    assert count_flops(lambda: lin(y)) == 2 * 5 * 16 * 4


@pytest.mark.slow
def test_quick_report_tables_are_consistent(tmp_path):
    text = run_bench(tmp_path, timeout=1200)
    peak = float(re.search(r'\*\*Peak: best ([\d.]+)\s+GFLOP/s\*\*', text).group(1))
    bests = [float(x) for x in re.findall(r'\d+\^3: best ([\d.]+),', text)]
    assert len(bests) == 4 and peak == pytest.approx(max(bests), abs=0.051)
    rows = [r for r in table_after(text, '## 2.') if r['backend'] != 'tensorrt']
    assert {(r['model'], r['backend']) for r in rows} == {
        (m, b) for m in ('streamnet_tiny', 'detr_tiny') for b in ('torch', 'onnxruntime')}
    for r in rows:
        achieved = float(r['GFLOP/frame']) / (float(r['median ms']) / 1000)
        assert float(r['achieved GFLOP/s']) == pytest.approx(achieved, rel=0.06, abs=0.06)
        assert float(r['% of matmul peak']) == pytest.approx(
            100 * float(r['achieved GFLOP/s']) / peak, rel=0.06, abs=0.06)
    assert all('not available' in r['median ms'] for r in table_after(text, '## 2.')
               if r['backend'] == 'tensorrt')
    v2i = table_after(text, '## 4.')
    teacher = float(next(r for r in v2i if r['role'].startswith('teacher'))['median ms'])
    for r in v2i:
        assert float(r['teacher / this (medians)']) == pytest.approx(
            teacher / float(r['median ms']), rel=0.02, abs=0.01)
    node = table_after(text, '## 5.')
    groups = {(r['bundle'], r['case']) for r in node}
    assert len(groups) == 4                          # 2 bundles x 2 threshold cases
    for group in groups:
        mine = [r for r in node if (r['bundle'], r['case']) == group]
        stages = [float(r['median ms']) for r in mine[1:-1]]
        assert mine[-1]['step (1920x1200 bgr8 in)'] == 'sum of the stage medians'
        assert float(mine[-1]['median ms']) == pytest.approx(sum(stages), abs=0.01 * len(stages))
