"""Polygraphy's per-element rule (|a - b| <= atol + rtol |b|) against a naive loop over the
elements, written here from the rule, and the table / missing-name handling."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.output_compare import (TOLERANCES, OutputDiff, Tolerance, compare_arrays,
                                     compare_outputs, format_table, tolerance_for)


def naive(got, ref, atol, rtol):
    """(n_bad, max abs, max rel, median abs) by a Python loop over the elements."""
    bad, absd, reld = 0, [], []
    for a, b in zip(np.asarray(got, float).ravel().tolist(),
                    np.asarray(ref, float).ravel().tolist()):
        if a == b:                         # equal infinities included
            d = 0.0
        else:
            d = abs(a - b)
        ok = a == b or (math.isfinite(b) and not math.isnan(d) and d <= atol + rtol * abs(b))
        bad += not ok
        absd.append(d)
        reld.append(0.0 if d == 0 else (d / abs(b) if b != 0 else math.inf))
    s = sorted(absd)
    n = len(s)
    med = (s[(n - 1) // 2] + s[n // 2]) / 2
    return bad, max(absd), max(reld), med


values = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(values, values), min_size=1, max_size=40),
       st.sampled_from([0.0, 1e-5, 1e-3, 0.1]), st.sampled_from([0.0, 1e-4, 1e-2, 0.5]))
def test_rule_matches_a_naive_loop(pairs, atol, rtol):
    got = np.array([p[0] for p in pairs], np.float32)
    # half of the reference close to got, so both verdicts occur
    ref = np.array([p[1] if i % 2 else p[0] * (1 + 1e-3) for i, p in enumerate(pairs)],
                   np.float32)
    d = compare_arrays('x', got, ref, Tolerance(atol, rtol))
    bad, max_abs, max_rel, med = naive(got, ref, atol, rtol)
    assert d.n_bad == bad and d.n == len(pairs) and d.ok == (bad == 0)
    assert d.max_abs == pytest.approx(max_abs, rel=1e-12, abs=0)
    assert d.median_abs == pytest.approx(med, rel=1e-12, abs=0)
    assert d.max_rel == pytest.approx(max_rel, rel=1e-12) or d.max_rel == max_rel == math.inf


def test_rule_is_relative_to_the_reference_and_edges():
    tol = Tolerance(atol=0.0, rtol=0.1)
    # |a - b| = 10: within 0.1 x |b| when b = 100 (the reference), not when b = 90
    assert compare_arrays('x', [110.0], [100.0], tol).ok
    assert not compare_arrays('x', [100.0], [89.0], tol).ok
    # the boundary itself passes (<=), NaN never, equal infinities do, a sign flip does not
    assert compare_arrays('x', [1.5], [1.0], Tolerance(0.5, 0.0)).ok
    assert not compare_arrays('x', [np.nan], [np.nan], Tolerance(1.0, 1.0)).ok
    assert not compare_arrays('x', [1.0], [np.nan], Tolerance(1.0, 1.0)).ok
    assert compare_arrays('x', [np.inf, -np.inf], [np.inf, -np.inf], Tolerance(0, 0)).ok
    assert not compare_arrays('x', [np.inf], [-np.inf], Tolerance(1, 1)).ok
    # half precision: the difference is taken in float64 (65504 - (-65504) does not overflow)
    d = compare_arrays('x', np.float16([65504]), np.float16([-65504]), Tolerance(0, 0))
    assert d.max_abs == 131008.0 and not d.ok


def test_outputs_missing_extra_and_misshapen_are_named_failures():
    ref = {'a': np.zeros((2, 3)), 'b': np.ones(4), 'c': np.ones(2)}
    got = {'a': np.zeros((3, 2)), 'b': np.ones(4), 'd': np.ones(1)}
    diffs = compare_outputs(got, ref, TOLERANCES['fp32'])
    by = {d.name: d for d in diffs}
    assert [d.name for d in diffs] == ['a', 'b', 'c', 'd']
    assert by['b'].ok and not by['a'].ok and not by['c'].ok and not by['d'].ok
    assert 'shape (3, 2)' in by['a'].problem and 'missing' in by['c'].problem
    assert 'not an output' in by['d'].problem
    table = format_table(diffs)
    lines = table.splitlines()
    assert len(lines) == 5 and lines[0].split()[:2] == ['output', 'shape']
    assert lines[2].startswith('b') and lines[2].rstrip().endswith('ok')
    assert 'FAIL: missing from the output' in lines[3]


def test_tolerance_table_and_overrides():
    assert set(TOLERANCES) == {'fp32', 'fp16', 'int8'}
    # looser with lower precision, on both terms
    assert TOLERANCES['fp32'].atol < TOLERANCES['fp16'].atol < TOLERANCES['int8'].atol
    assert TOLERANCES['fp32'].rtol < TOLERANCES['fp16'].rtol < TOLERANCES['int8'].rtol
    t = tolerance_for('fp16', rtol=0.5)
    assert t == Tolerance(TOLERANCES['fp16'].atol, 0.5)
    with pytest.raises(ValueError, match='--precision bf16'):
        tolerance_for('bf16')
    with pytest.raises(ValueError, match='--atol -1'):
        tolerance_for('fp32', atol=-1)
    assert isinstance(compare_arrays('x', [], [], t), OutputDiff)
