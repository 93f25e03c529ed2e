"""V2I student bundles: student.onnx in ONNX Runtime against the torch student (tiny DETR)."""
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from training import export as ex
from video_perception.bundle import load_bundle

detr_zoo = pytest.importorskip('training.models.detr.zoo')


def _masked_reference(model, image, rows, cols):
    """What training and v2i_eval compute on a padded batch (collate_v2i): padding at 0 after
    normalisation, mask True on it; boxes relative to the picture, scaled here to the canvas."""
    h, w = image.shape[-2:]
    padded = torch.zeros_like(image)
    padded[..., :rows, :cols] = image[..., :rows, :cols]
    mask = torch.ones(1, h, w, dtype=torch.bool)
    mask[:, :rows, :cols] = False
    with torch.no_grad():
        out = model(padded, mask)
    scale = torch.tensor([cols / w, rows / h, cols / w, rows / h])
    return out['pred_logits'], out['pred_boxes'] * scale


@pytest.mark.xdist_group('export')
@pytest.mark.parametrize('name', ['detr_tiny', 'deformable_detr_tiny'])
def test_tiny_bundle_matches_masked_torch(name, tmp_path):
    """120x152 (not a multiple of 32) with a 120x90 picture on it: the graph masks the padding
    as training did, whatever the runtime padded with."""
    torch.manual_seed(0)
    model = detr_zoo.build(name, 1).eval()
    ckpt = tmp_path / 'w.pt'
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / 'bundle'
    assert ex.main([name, '--checkpoint', str(ckpt), '--size', '120x152',
                    '--out', str(out)]) == 0
    bundle = load_bundle(str(out))
    assert bundle.family == 'v2i' and (bundle.height, bundle.width) == (120, 152)
    meta = json.loads((out / 'model.json').read_text())
    assert meta['output']['kind'] == model.output_kind and meta['input']['valid_hw'] is True
    sess = ort.InferenceSession(bundle.graph('student'), providers=['CPUExecutionProvider'])
    assert [i.shape for i in sess.get_inputs()] == [[1, 3, 120, 152], [1, 2]]
    image = torch.randn(1, 3, 120, 152)
    ref_logits, ref_boxes = _masked_reference(model, image, 120, 90)
    junk = image.clone()
    junk[..., 90:] = -2.0                  # raw black after normalisation, or anything else
    feed = {'image': junk.numpy(), 'valid_hw': np.array([[120, 90]], np.float32)}
    logits, boxes = sess.run(['pred_logits', 'pred_boxes'], feed)
    assert np.abs(logits - ref_logits.numpy()).max() <= 1e-3
    assert np.abs(boxes - ref_boxes.numpy()).max() <= 1e-3
    # the mask matters: the whole canvas as the picture gives other outputs
    full, _ = sess.run(['pred_logits', 'pred_boxes'],
                       {'image': junk.numpy(), 'valid_hw': np.array([[120, 152]], np.float32)})
    assert np.abs(full - ref_logits.numpy()).max() > 1e-2
    twin = ex.build_from_bundle(bundle)
    with torch.no_grad():
        t_logits, _ = twin(junk, torch.tensor([[120.0, 90.0]]))
    assert torch.allclose(t_logits, ref_logits, atol=1e-5)


def test_teacher_is_not_exportable(tmp_path, capsys):
    assert ex.main(['v2i_teacher_tiny', '--out', str(tmp_path)]) == 2
    assert 'not a student' in capsys.readouterr().err
