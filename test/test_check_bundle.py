"""``video-perception check-bundle``: the deployed graph against the training code's forward.

The reference side is the training code (``model(images, masks)`` with collate_v2i's padding
and mask; StreamNet's offline forward), the other side the backend fed as the nodes feed it, on
non-square frames. A bundle whose graph is another model's must fail, with exit status 1.
"""
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


def test_streamnet_bundle_agrees_and_a_swapped_forecast_fails(tmp_path, capsys):
    """160x232: non-square, not a multiple of 32; export itself runs the check."""
    outs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = ex._build_streamnet('streamnet_tiny', 8, {})
        ckpt = tmp_path / f's{seed}.pt'
        torch.save(model.state_dict(), ckpt)
        outs.append(tmp_path / f'b{seed}')
        assert ex.main(['streamnet_tiny', '--checkpoint', str(ckpt), '--size', '160x232',
                        '--out', str(outs[-1])]) == 0
        verdict, ds, db = _diffs(capsys.readouterr().out)
        assert verdict == 'PASS' and ds <= 1e-4 and db <= 1e-2
    shutil.copy(outs[1] / 'forecast.onnx', outs[0] / 'forecast.onnx')
    assert cb.main([str(outs[0])]) == 1
    assert _diffs(capsys.readouterr().out)[0] == 'FAIL'


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
