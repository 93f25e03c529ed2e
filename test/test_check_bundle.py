"""``video-perception check-bundle``: the deployed graph against the training code's forward.

The reference side is the training code (``model(images, masks)`` with collate_v2i's padding
and mask; StreamNet's offline forward), the other side the backend fed as the nodes feed it, on
non-square frames. A bundle whose graph is another model's must fail, with exit status 1.
"""
import pathlib
import re
import shutil

import numpy as np
import pytest
import torch

from training import check_bundle as cb
from training import export as ex
from training.models.detr import zoo as detr_zoo
from video_perception.detector import load_detector

pytestmark = pytest.mark.xdist_group('export')


def _diffs(text):
    """(max score diff, max box diff) from the verdict line."""
    m = re.search(r'(PASS|FAIL): max score diff (\S+) .* max box diff (\S+) px', text)
    assert m, text
    return m.group(1), float(m.group(2)), float(m.group(3))


def _v2i_bundle(tmp_path, name, seed, size='96x136'):
    torch.manual_seed(seed)
    ckpt = tmp_path / f'{name}_{seed}.pt'
    torch.save(detr_zoo.build('deformable_detr_tiny', 1).state_dict(), ckpt)
    out = tmp_path / f'{name}_{seed}'
    assert ex.main(['deformable_detr_tiny', '--checkpoint', str(ckpt), '--size', size,
                    '--out', str(out), '--no-check']) == 0
    return out


def test_v2i_bundle_agrees_on_non_square_frames_and_a_swapped_graph_fails(tmp_path, capsys):
    a = _v2i_bundle(tmp_path, 'a', 0)
    capsys.readouterr()
    assert cb.main([str(a)]) == 0
    out = capsys.readouterr().out
    verdict, ds, db = _diffs(out)
    assert verdict == 'PASS' and ds <= 1e-4 and db <= 1e-2
    assert '(360x640)' in out and '(500x300)' in out          # landscape and portrait frames
    # the same architecture with other weights: only the graph is swapped
    b = _v2i_bundle(tmp_path, 'b', 1)
    shutil.copy(b / 'student.onnx', a / 'student.onnx')
    capsys.readouterr()
    assert cb.main([str(a), '--backend', 'onnxruntime']) == 1
    verdict, ds, _ = _diffs(capsys.readouterr().out)
    assert verdict == 'FAIL' and ds > 0.02


def test_v2i_check_on_given_images_and_torch_backend(tmp_path, capsys):
    import cv2
    a = _v2i_bundle(tmp_path, 'a', 0, size='128x128')
    img = np.zeros((200, 420, 3), np.uint8)
    cv2.rectangle(img, (100, 50), (180, 120), (40, 200, 90), -1)
    path = tmp_path / 'frame.png'
    cv2.imwrite(str(path), img)
    capsys.readouterr()
    assert cb.main([str(a), '--image', str(path), '--backend', 'torch', '--device', 'cpu']) == 0
    out = capsys.readouterr().out
    assert '(200x420)' in out and _diffs(out)[1] <= 1e-5
    assert cb.main([str(a), '--image', str(tmp_path / 'missing.png')]) == 2
    assert 'not a readable image' in capsys.readouterr().err


def _large_activations(model, seed):
    """BatchNorm statistics and affine terms drawn so that activations reach the hundreds (an
    honest random-weight model: no layer is altered after export)."""
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
            mod.running_var.copy_(torch.rand(n, generator=g) * 0.4 + 0.1)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.randn(n, generator=g) * 0.2)
    return model


def test_streamnet_bundle_agrees_and_a_swapped_forecast_fails(tmp_path, capsys):
    """160x232: non-square, not a multiple of 32; export itself runs the check (ONNX Runtime
    against torch per output element, then check-bundle). The first model has activations in
    the hundreds (~600): its graphs are honest, and the exporter's self-check must pass them."""
    outs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = ex._build_streamnet('streamnet_tiny', 8, {})
        if seed == 0:
            model = _large_activations(model, seed).eval()
            with torch.no_grad():
                peak = model(torch.rand(1, 12, 160, 232) * 255).abs().max().item()
            assert peak > 500     # an absolute 1e-3 would hold a float32 ulp of 6e-5 here
        ckpt = tmp_path / f's{seed}.pt'
        torch.save(model.state_dict(), ckpt)
        outs.append(tmp_path / f'b{seed}')
        assert ex.main(['streamnet_tiny', '--checkpoint', str(ckpt), '--size', '160x232',
                        '--out', str(outs[-1])]) == 0
        text = capsys.readouterr().out
        verdict, ds, db = _diffs(text)
        assert verdict == 'PASS' and ds <= 1e-4 and db <= 1e-2
        assert 'raw outputs within fp32 tolerance' in text and 'predictions' in text
    shutil.copy(outs[1] / 'forecast.onnx', outs[0] / 'forecast.onnx')
    assert cb.main([str(outs[0])]) == 1
    text = capsys.readouterr().out
    assert _diffs(text)[0] == 'FAIL' and 'forecast, frame' in text and 'FAIL' in text.split(
        'forecast, frame')[1].split('decoded detections')[0]


SHIPPED = pathlib.Path(__file__).resolve().parents[1] / 'models'


@pytest.mark.parametrize('name', ['streamnet_tiny_synth', 'v2i_distill_tiny_vocalfolds'])
def test_shipped_bundle_with_one_weight_tensor_scaled_by_1_1_fails(name, tmp_path, capsys):
    """A trained shipped bundle passes; the same bundle with its largest weight tensor (ONNX
    initializer) times 1.1 fails on the raw outputs, with the per-output table naming them."""
    from training.onnx_check import largest_initializer, scale_initializer
    honest = SHIPPED / name
    assert cb.main([str(honest)]) == 0
    text = capsys.readouterr().out
    assert 'raw outputs within fp32 tolerance' in text
    altered = tmp_path / name
    shutil.copytree(honest, altered)
    graph, init, size = largest_initializer(str(altered))
    assert size > 10_000
    scale_initializer(str(altered / graph), init, 1.1)
    assert cb.main([str(altered)]) == 1
    text = capsys.readouterr().out
    verdict = text.strip().splitlines()[-1]
    assert verdict.startswith('FAIL') and 'raw outputs OUTSIDE' in verdict
    role = graph.split('.')[0]   # the altered graph's outputs are the failing rows
    table = text.split(f'  {role}, ')[1]
    header, *rows = [ln.split() for ln in table.splitlines()[1:4]]
    assert header[:3] == ['output', 'shape', 'max'] and rows
    assert any(r[-1] == 'FAIL' for r in rows)


def test_old_v2i_bundle_without_valid_hw_loads_with_one_warning(tmp_path):
    import tiny_bundles
    root = tiny_bundles.make_v2i_bundle(str(tmp_path / 'old'))
    lines = []
    det = load_detector(root, 'onnxruntime', log=lines.append, warmup=True)
    warn = [line for line in lines if 'valid_hw' in line]
    assert len(warn) == 1 and warn[0].startswith('WARNING') and '\n' not in warn[0]
    frame = np.zeros((48, 120, 3), np.uint8)
    frame[10:20, 30:50] = 255
    assert len(det.detect(frame).boxes_xyxy) >= 1


def test_shipped_v2i_bundle_runs_as_evaluated(capsys):
    """models/v2i_*: student.onnx re-exported from its model.pt with the valid_hw input."""
    import pathlib
    root = pathlib.Path(__file__).resolve().parents[1] / 'models'
    for bundle in sorted(root.glob('v2i_*')):
        assert cb.main([str(bundle)]) == 0, bundle
        assert _diffs(capsys.readouterr().out)[1] <= 1e-4
