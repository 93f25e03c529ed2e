"""The StreamNet feature buffer against a naive list of past frames, and the stamp monitor."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from video_perception.feature_buffer import FeatureBuffer, StampMonitor


def _naive_history(frames_seen, n, step):
    """History of the frame after frames_seen: [t-dt, ..., t-N*dt], clamped to frame 0."""
    t = len(frames_seen)
    return [frames_seen[max(t - k * step, 0)] for k in range(1, n + 1)]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 4), step=st.integers(1, 3), count=st.integers(1, 20))
def test_history_matches_naive_list(n, step, count):
    buf = FeatureBuffer({'p3': (1, 2, 3), 'p4': (1, 1, 2)}, n, step)
    seen = []
    for i in range(count):
        feats = {'p3': np.full((1, 2, 3), i, np.float32), 'p4': np.full((1, 1, 2), -i, np.float32)}
        if buf.empty:
            buf.prime(feats)
        hist = buf.history_inputs()
        expected = _naive_history(seen, n, step) if seen else [i] * n
        got = [int(hist[f'p3_h{k}'][0, 0, 0]) for k in range(1, n + 1)]
        assert got == expected, (i, got, expected)
        assert [int(-hist[f'p4_h{k}'][0, 0, 0]) for k in range(1, n + 1)] == expected
        buf.push(feats)
        seen.append(i)
    assert buf.fill == pytest.approx(min(count, n * step) / (n * step))


def test_push_copies_and_memory_is_preallocated():
    buf = FeatureBuffer({'f': (4,)}, 3, 1)
    before = buf.nbytes()
    x = np.arange(4, dtype=np.float32)
    buf.push({'f': x})
    x[:] = 99          # the caller reusing its array must not change the buffer
    assert buf.history_inputs()['f_h1'].tolist() == [0, 1, 2, 3]
    for _ in range(100):
        buf.push({'f': x})
    assert buf.nbytes() == before == 3 * 4 * 4


def test_reset_and_bad_features():
    buf = FeatureBuffer({'f': (2,)}, 2, 1)
    buf.push({'f': np.ones(2, np.float32)})
    buf.reset()
    assert buf.empty and buf.fill == 0
    with pytest.raises(RuntimeError, match='prime'):
        buf.history_inputs()
    with pytest.raises(ValueError, match='"f" has shape'):
        buf.push({'f': np.ones(3, np.float32)})
    with pytest.raises(ValueError, match='missing feature "f"'):
        buf.push({'g': np.ones(2, np.float32)})
    with pytest.raises(ValueError, match='must be >= 0'):
        FeatureBuffer({'f': (2,)}, -1, 1)
    with pytest.raises(ValueError, match='>= 1'):
        FeatureBuffer({'f': (2,)}, 2, 0)
    none = FeatureBuffer({'f': (2,)}, 0, 1)        # N = 0: holds nothing, gives nothing
    none.push({'f': np.ones(2, np.float32)})
    assert none.history_inputs() == {} and none.nbytes() == 0 and none.fill == 1.0


def test_stamp_monitor():
    mon = StampMonitor(leap_periods=5)
    period = 33_333_333
    assert mon.observe(10 * period) == 'first'
    assert mon.period_ns is None
    kinds = [mon.observe((10 + i) * period) for i in range(1, 6)]
    assert kinds == ['ok'] * 5 and mon.period_ns == period
    assert mon.observe(15 * period) == 'repeat'
    assert mon.observe(17 * period) == 'ok'          # one dropped frame is not a leap
    assert mon.observe(30 * period) == 'leap'        # 13 periods
    assert mon.period_ns == period                   # the gap does not change the rate
    assert mon.observe(2 * period) == 'back'
    assert mon.observe(3 * period) == 'ok'
