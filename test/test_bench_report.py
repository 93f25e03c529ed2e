"""`scripts/bench.py --only`: re-measures the named sections in the existing report and keeps every
other block byte for byte; a report without markers is refused, not overwritten; the goals'
verdicts in the headline follow from the figures (hand-made numbers, not timed)."""
import math
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / 'scripts'))

pytestmark = [pytest.mark.xdist_group('h11_bench')]


def bench(tmp_path, out, *args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, str(REPO / 'scripts' / 'bench.py'), '--out', str(out),
                           '--bundle-dir', str(tmp_path / 'bundles'), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def chunks(text):
    """The report cut at every line that starts with '<!-- bench:' (a naive split, independent of
    bench_report.parse): {'KIND NAME': text from that line to the next such line}."""
    parts = re.split(r'(?m)^(?=<!-- bench:)', text)
    return {' '.join(p.split()[1:3]).replace('bench:', ''): p for p in parts[1:]}


def test_only_peak_keeps_every_other_block_byte_for_byte(tmp_path):
    out = tmp_path / 'BENCHMARKS.md'
    before = (REPO / 'docs' / 'BENCHMARKS.md').read_text()
    out.write_text(before)
    proc = bench(tmp_path, out, '--quick', '--only', 'peak')
    assert proc.returncode == 0, proc.stderr[-2000:]
    after = out.read_text()
    old, new = chunks(before), chunks(after)
    assert 'section peak' in old and 'section int8' in old
    assert any(k.startswith('manual ') for k in old)            # hand-written blocks too
    assert list(new) == list(old)                               # same blocks, same order
    for key in old:
        if key != 'section peak':
            # the last block before the end of the file may differ in its final newline only
            assert new[key].rstrip('\n') == old[key].rstrip('\n'), key
            if key != list(old)[-1]:
                assert new[key] == old[key], key
    peak = new['section peak']
    assert peak != old['section peak']
    assert re.search(r'\*Measured \d{4}-\d\d-\d\d \d\d:\d\d UTC by `[^`]*--only peak[^`]*`: '
                     r'[\d.]+ min, load average \(1 min\) [\d.]+ to [\d.]+\.\*', peak)
    assert '3 interleaved calls each' in peak                   # --quick's repetitions
    # the page header lists every section with its own date; peak's is this run's
    rows = [ln for ln in after.split('<!-- bench:')[0].splitlines()
            if ln.startswith('| ') and ' UTC |' in ln]
    assert len(rows) == sum(k.startswith('section') for k in old)
    assert '--only peak' in next(r for r in rows if r.startswith('| 1. '))
    # another section's row keeps the date its own marker carries (not this run's)
    history = re.search(r'bench:section history measured="([^"]+)"', before).group(1)
    assert history in next(r for r in rows if r.startswith('| 3. '))


@pytest.mark.parametrize('args', [('--quick', '--only', 'peak'), ('--quick',)],
                         ids=['only', 'full'])
def test_a_report_without_markers_is_refused_untouched(tmp_path, args):
    out = tmp_path / 'OLD.md'
    text = '# Benchmarks\n\nhand-written, no markers\n\n## 1. Peak\n\n| a |\n|---|\n| 1 |\n'
    out.write_text(text)
    proc = bench(tmp_path, out, *args, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and 'markers' in lines[0]
    assert 'Traceback' not in proc.stderr
    assert out.read_text() == text
    assert os.listdir(tmp_path) == ['OLD.md']                    # no temporary file left


def test_bad_only_is_one_line():
    import bench
    for bad in (['peak,nope'], ['']):
        with pytest.raises(ValueError, match='--only'):
            bench.parse_only(bad)
    assert bench.parse_only(['int8', 'multicam']) == ['multicam', 'int8']
    assert bench.parse_only(['latency,history']) == ['peak', 'latency', 'history']
    assert bench.parse_only(None) is None


def test_merge_inserts_by_order_and_keeps_the_rest():
    import bench_report as r
    old_text = ('# B\n\n## Headline\n\n' + r.headline_block('b', ['- b1']) + '\n'
                + r.marker('section', 'a', {'measured': 'x'}) + '\n## A\n\nold a\n\n'
                + r.marker('manual', 'note') + '\n### note\n\nhand\n\n'
                + r.marker('section', 'c') + '\n## C\n\nold c\n')
    pre, old = r.parse(old_text)
    assert pre == '# B\n\n## Headline\n\n'
    assert [(b.kind, b.name) for b in old] == [('headline', 'b'), ('section', 'a'),
                                               ('manual', 'note'), ('section', 'c')]
    assert old[1].attrs == {'measured': 'x'}
    attrs = {'measured': 'now', 'minutes': '1.0', 'load': '1 to 2', 'cmd': 'bench --only b'}
    new = {'b': r.section_block('b', attrs, '## B\n\nnew b\n'),
           'a': r.section_block('a', attrs, '## A\n\nnew a\n')}
    blocks = r.merge(old, new, ['a', 'b', 'c'])
    assert [(b.kind, b.name) for b in blocks] == [('headline', 'b'), ('section', 'a'),
                                                  ('manual', 'note'), ('section', 'b'),
                                                  ('section', 'c')]
    assert blocks[2] is old[2] and blocks[4] is old[3]
    assert 'new a' in blocks[1].text and blocks[3].attrs['cmd'] == 'bench --only b'
    # headline: b re-ran without bullets (its group goes), a gets its new one, unknown z stays
    old_h = old + [r.Block('headline', 'z', {}, r.headline_block('z', ['- z']))]
    h = r.merge_headline(old_h, {'a': ['- a new']}, ['a', 'b'], ['a', 'b', 'c'])
    assert h == r.headline_block('a', ['- a new']) + r.headline_block('z', ['- z'])
    text = r.assemble('# B\n', h, blocks)
    assert text.index('new a') < text.index('hand') < text.index('new b') < text.index('old c')
    assert r.parse(text)[1][-1].text == old[3].text


def mc(b, pc, sep):
    """multicam data at K = 4 from (fps, p95) per layout."""
    return {f'm/K=4/{k}': {'fps': f, 'p95': p, 'offered': 120.0}
            for k, (f, p) in zip(('batched', 'per_camera', 'separate'), (b, pc, sep))}


def test_multicam_goals_from_hand_numbers():
    from bench_goals import multicam_bullets, multicam_goals
    g = multicam_goals(mc((8.8, 729.0), (21.2, 332.0), (21.1, 341.5)), 'm')
    assert g['per_camera_ratio'] == pytest.approx(21.2 / 21.1)
    assert g['batched_ratio'] == pytest.approx(8.8 / 21.1)
    assert g['per_camera_met'] and not g['batched_met']
    # more frames but a worse p95: not met; equal frames and p95: met (">=", "no worse")
    assert not multicam_goals(mc((1, 1), (30.0, 400.0), (20.0, 399.0)), 'm')['per_camera_met']
    assert multicam_goals(mc((1, 1), (20.0, 399.0), (20.0, 399.0)), 'm')['per_camera_met']
    # both at the offered 120 frames/s (>= 99.5 %): a frame fewer is no loss, p95 decides
    g = multicam_goals(mc((1, 1), (119.5, 20.0), (119.9, 21.0)), 'm')
    assert g['both_at_offer'] and g['per_camera_met']
    assert not multicam_goals(mc((1, 1), (119.5, 22.0), (119.9, 21.0)), 'm')['per_camera_met']
    assert not multicam_goals(mc((1, 1), (119.3, 20.0), (119.9, 21.0)), 'm')['per_camera_met']
    line = multicam_bullets(mc((1, 1), (119.5, 20.0), (119.9, 21.0)))[0]
    assert '(**1.00x**, both at the offered rate, p95 20 ms)' in line and '**met**' in line
    # the batched 1.5x goal: exactly 1.5x at an equal p95 meets it, 1.49x does not
    assert multicam_goals(mc((30.0, 50.0), (1, 1), (20.0, 50.0)), 'm')['batched_met']
    assert not multicam_goals(mc((29.8, 50.0), (1, 1), (20.0, 50.0)), 'm')['batched_met']
    # no frame served by the separate nodes, or no latency sample: nothing is met
    g = multicam_goals(mc((5.0, 10.0), (5.0, 10.0), (0.0, float('nan'))), 'm')
    assert math.isnan(g['per_camera_ratio']) and not g['per_camera_met']
    assert not multicam_goals(mc((1, 1), (20.0, float('nan')), (20.0, 10.0)), 'm')[
        'per_camera_met']
    line, = multicam_bullets(mc((8.8, 729.0), (21.2, 332.0), (21.1, 341.5)))
    assert '**1.00x**' in line and 'goal (>= separate, p95 no worse) **met**' in line
    assert '0.42x' in line and '1.5x goal **not met**' in line


def test_int8_goals_from_hand_numbers():
    from bench_goals import int8_bullets, int8_goal_lines, int8_goals
    s = lambda f, i: {'fp32': {'median': f}, 'int8': {'median': i}, 'ratio': f / i}  # noqa
    acc = lambda f, i: {'streamnet_tiny_synth': {'fp32': {'AP': f}, 'int8': {'AP': i}}}  # noqa
    g = int8_goals({'streamnet_s': s(15204.7, 9678.1)}, acc(0.094, 0.096))
    assert g['s_ratio'] == pytest.approx(1.571, abs=1e-3) and g['s_met'] is False
    assert g['ap_diff'] == pytest.approx(0.2) and g['ap_met'] is True
    assert int8_goals({'streamnet_s': s(900.0, 500.0)}, {})['s_met'] is True      # 1.8x
    assert int8_goals({}, acc(0.094, 0.083))['ap_met'] is False                   # -1.1
    assert int8_goals({}, acc(0.094, 0.084))['ap_met'] is True                    # -1.0
    assert int8_goals({}, acc(0.094, 0.105))['ap_met'] is False                   # +1.1
    assert int8_goals({}, {})['s_met'] is None and int8_goals({}, {})['ap_met'] is None
    lines = int8_goal_lines({'streamnet_s': s(15204.7, 9678.1)}, acc(0.094, 0.096))
    assert '**not met**, 1.57x (15205 -> 9678 ms' in lines['speed']
    assert '**met**, 9.6 int8 against 9.4 fp32 (+0.2)' in lines['ap']
    assert 'not measured' in int8_goal_lines({}, {})['speed']
    bullets = int8_bullets({'streamnet_tiny': s(10.0, 12.5), 'streamnet_s': s(900.0, 500.0)},
                           acc(0.094, 0.096))
    assert 'StreamNet-S **1.80x** (goal 1.8x **met**); streamnet_tiny 0.80x' in bullets[0]
