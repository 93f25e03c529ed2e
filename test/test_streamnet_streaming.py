"""Streaming encode + FIFO + forecast equals the offline multi-frame forward; RepConv fusion
equals the unfused model; buffered feature shapes match what encode returns."""
import pytest
import torch

from training.models.streamnet.blocks import RepConv, fuse_repconv
from training.models.streamnet.dcn import DeformConv2dPack
from training.models.streamnet.model import StreamingRunner
from training.models.streamnet.zoo import MODELS


def _randomise(model, seed=0):
    """Non-trivial BN statistics and non-zero DCN offsets, so every path is exercised."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            if isinstance(m, DeformConv2dPack):
                m.conv_offset.weight.copy_(
                    torch.randn(m.conv_offset.weight.shape, generator=g) * 0.05)
                m.conv_offset.bias.copy_(torch.randn(18, generator=g) * 0.5)
    return model.eval()


def _frames(n, h, w, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(1, 3, h, w, generator=g) * 255 for _ in range(n)]


def _check_stream_equals_offline(model, frames):
    n = model.history_frames
    fifo = []                     # newest first, filled with the first frame at start
    with torch.no_grad():
        for t, frame in enumerate(frames):
            feats = model.encode(frame)
            if not fifo:
                fifo = [feats] * n
            streamed = model.forecast(feats, fifo[:n])
            fifo = [feats] + fifo[:-1]
            history = [frames[max(t - k, 0)] for k in range(1, n + 1)]
            offline = model(frame, history)
            assert streamed.shape == offline.shape
            diff = (streamed - offline).abs().max().item()
            assert diff <= 1e-4, f'frame {t}: max abs diff {diff}'


def test_tiny_streaming_equals_offline():
    torch.manual_seed(0)
    model = _randomise(MODELS['streamnet_tiny']())
    _check_stream_equals_offline(model, _frames(6, 96, 160))


def test_s_streaming_equals_offline_small_input():
    torch.manual_seed(0)
    model = _randomise(MODELS['streamnet_s']())
    _check_stream_equals_offline(model, _frames(5, 64, 96))


def test_runner_with_step_two_and_channel_stacked_input():
    torch.manual_seed(0)
    model = _randomise(MODELS['streamnet_tiny']())
    frames = _frames(6, 64, 96)
    runner = StreamingRunner(model, history_step=2)
    with torch.no_grad():
        for t, frame in enumerate(frames):
            streamed = runner(frame)
            history = [frames[max(t - 2 * k, 0)] for k in (1, 2, 3)]
            offline = model(torch.cat([frame] + history, 1))
            assert torch.equal(model((frame, history)), offline)
            assert (streamed - offline).abs().max().item() <= 1e-4
    runner.reset()
    assert runner.fifo == []


def test_repconv_fused_equals_unfused():
    torch.manual_seed(0)
    layer = _randomise(RepConv(6, 5))
    x = torch.randn(2, 6, 9, 7)
    with torch.no_grad():
        ref = layer(x)

        # Independent reference: BN(conv3x3) + BN(conv1x1) with eps 1e-3, then SiLU.
        def bn(y, m):
            return ((y - m.running_mean[:, None, None]) / torch.sqrt(m.running_var + 1e-3)
                    [:, None, None] * m.weight[:, None, None] + m.bias[:, None, None])
        d, o = layer.rbr_dense, layer.rbr_1x1
        want = torch.nn.functional.silu(
            bn(torch.nn.functional.conv2d(x, d.conv.weight, padding=1), d.bn)
            + bn(torch.nn.functional.conv2d(x, o.conv.weight), o.bn))
        assert (ref - want).abs().max().item() <= 1e-5
        layer.fuse()
        assert (layer(x) - want).abs().max().item() <= 1e-4
    assert layer.fused.bias is not None and layer.fused.kernel_size == (3, 3)


def test_fused_model_equals_unfused():
    torch.manual_seed(0)
    model = _randomise(MODELS['streamnet_tiny']())
    frames = _frames(4, 64, 96)
    with torch.no_grad():
        before = model(frames[0], frames[1:])
        fuse_repconv(model)
        after = model(frames[0], frames[1:])
    assert not any(isinstance(m, RepConv) and m.fused is None for m in model.modules())
    assert (before - after).abs().max().item() <= 1e-4


def test_buffered_feature_specs_match_encode_at_600x960():
    model = MODELS['streamnet_tiny']().eval()
    specs = model.feature_specs(600, 960)
    assert [s[0] for s in specs] == ['f0', 'f1', 'f2']
    assert [s[1][2:] for s in specs] == [(75, 120), (38, 60), (19, 30)]
    buffered = model.buffered_feature_specs(600, 960)
    # tiny's long_groups ((3, (5, 10, 21)),): the buffer keeps 5/10/21 channels, not 32/64/128
    assert buffered == [('l0', (1, 5, 75, 120)), ('l1', (1, 10, 38, 60)),
                        ('l2', (1, 21, 19, 30))]
    with torch.no_grad():
        feats, reduced = model.encode_streaming(torch.zeros(1, 3, 600, 960))
        preds = model.forecast(feats, [feats] * 3)
    assert [tuple(f.shape) for f in feats] == [s[1] for s in specs]
    assert [tuple(f.shape) for f in reduced] == [s[1] for s in buffered]
    assert tuple(preds.shape) == (1, 11850, 13)       # spec §0: 11 850 anchors, 5 + 8
    n0 = MODELS['streamnet_tiny'](long_groups=()).eval()    # buffers nothing: today's layout
    assert n0.buffered_feature_specs(600, 960) == n0.feature_specs(600, 960)


def test_wrong_history_length_is_named():
    model = MODELS['streamnet_tiny']().eval()
    with pytest.raises(ValueError, match='history frames'):
        model(torch.zeros(1, 3, 64, 64), [torch.zeros(1, 3, 64, 64)])
    with pytest.raises(ValueError, match=r'\[B, 12, H, W\]'):
        model(torch.zeros(1, 6, 64, 64))


def test_no_history_variant_streams_too():
    # N = 0 (the evidence baseline): no long path, the short conv keeps the full width.
    torch.manual_seed(0)
    model = _randomise(MODELS['streamnet_tiny'](long_groups=()))
    assert model.history_frames == 0
    assert [m.conv.out_channels for m in model.dual.short] == [32, 64, 128]
    frames = _frames(2, 64, 96)
    runner = StreamingRunner(model)
    with torch.no_grad():
        for frame in frames:
            assert (runner(frame) - model(frame, [])).abs().max().item() <= 1e-4
