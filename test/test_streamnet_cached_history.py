"""Buffered long-path reductions (``DualPath.reduce`` once per frame) equal recomputing the long
convs of every slot at every step, for a one-group model and an L-like two-group model, at
history steps 1 and 2, over sequences long enough that each frame passes through every slot (and
so through both groups of the L-like model)."""
import pytest
import torch

from test_streamnet_streaming import _frames, _randomise
from training.models.streamnet.model import StreamingRunner
from training.models.streamnet.zoo import MODELS

# tiny's widths (32, 64, 128), short (16, 32, 64): L's layout, slots 1-2 in group 0 and slot 3
# in group 1, with different channel counts per group so a wrong channel slice cannot pass
TWO_GROUPS = ((2, (5, 10, 21)), (1, (6, 12, 22)))


def _model(long_groups, fusion='long_fusion'):
    torch.manual_seed(0)
    kwargs = {} if long_groups is None else {'long_groups': long_groups}
    return _randomise(MODELS['streamnet_tiny'](fusion=fusion, **kwargs))


@pytest.mark.parametrize('long_groups,fusion', [(None, 'long_fusion'),
                                                (TWO_GROUPS, 'long_fusion'),
                                                (TWO_GROUPS, 'pure_concat')])
@pytest.mark.parametrize('step', [1, 2])
def test_cached_reductions_equal_recomputing(long_groups, fusion, step):
    model = _model(long_groups, fusion)
    n = model.history_frames
    frames = _frames(n * step + 4, 64, 96, seed=step)
    cached, recompute = StreamingRunner(model, step), StreamingRunner(model, step, cached=False)
    with torch.no_grad():
        for t, frame in enumerate(frames):
            got, ref = cached(frame), recompute(frame)
            assert (got - ref).abs().max().item() <= 1e-5, f'frame {t}'
            # the released offline forward, re-encoding the clamped history from the pixels
            history = [frames[max(t - k * step, 0)] for k in range(1, n + 1)]
            assert (got - model(frame, history)).abs().max().item() <= 1e-4, f'frame {t}'
    # the buffer keeps reductions, not the neck maps: sum over groups of each level's channels
    want = [sum(ch[lvl] for _, ch in model.cfg.long_groups) for lvl in range(3)]
    assert [e.shape[1] for e in cached.fifo[0]] == want
    assert [e.shape[1] for e in recompute.fifo[0]] == [32, 64, 128]


def test_reduce_concatenates_every_groups_conv_in_group_order():
    model = _model(TWO_GROUPS)
    feats = model.encode(_frames(1, 64, 96)[0])
    with torch.no_grad():
        reduced = model.dual.reduce(feats)
        for lvl, (p, r) in enumerate(zip(feats, reduced)):
            want = torch.cat([model.dual.long[g][lvl](p) for g in (0, 1)], 1)
            assert torch.equal(r, want)
    assert [r.shape[1] for r in reduced] == [11, 22, 43]


def test_training_forward_runs_each_slots_own_group_only():
    # training-mode BN: group 0's long convs see slots 1-2 (two calls), group 1's slot 3 only,
    # as before the buffered reductions (reduce would run both groups on every frame)
    model = _model(TWO_GROUPS).train()
    frames = _frames(4, 64, 96)
    model(frames[0], frames[1:])
    calls = [[conv.bn.num_batches_tracked.item() for conv in group]
             for group in model.dual.long]
    assert calls == [[2, 2, 2], [1, 1, 1]]


def test_no_history_model_buffers_nothing():
    model = _model(())
    runner = StreamingRunner(model)
    with torch.no_grad():
        feats, reduced = model.encode_streaming(_frames(1, 64, 96)[0])
        runner(_frames(1, 64, 96)[0])
    assert reduced == () and runner.fifo == [] and len(feats) == 3
