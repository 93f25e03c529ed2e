"""V2I student bundles: student.onnx in ONNX Runtime against the torch student (tiny DETR)."""
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from training import export as ex
from video_perception.bundle import load_bundle

detr_zoo = pytest.importorskip('training.models.detr.zoo')


@pytest.mark.xdist_group('export')
def test_detr_tiny_bundle_matches_torch(tmp_path):
    torch.manual_seed(0)
    model = detr_zoo.build('detr_tiny', 1).eval()
    ckpt = tmp_path / 'w.pt'
    torch.save(model.state_dict(), ckpt)
    out = tmp_path / 'bundle'
    assert ex.main(['detr_tiny', '--checkpoint', str(ckpt), '--size', '128x160',
                    '--out', str(out)]) == 0
    bundle = load_bundle(str(out))
    assert bundle.family == 'v2i' and (bundle.height, bundle.width) == (128, 160)
    meta = json.loads((out / 'model.json').read_text())
    assert meta['output']['kind'] == model.output_kind
    sess = ort.InferenceSession(bundle.graph('student'), providers=['CPUExecutionProvider'])
    assert [i.shape for i in sess.get_inputs()] == [[1, 3, 128, 160]]
    image = torch.randn(1, 3, 128, 160)
    logits, boxes = sess.run(['pred_logits', 'pred_boxes'], {'image': image.numpy()})
    with torch.no_grad():
        ref_logits, ref_boxes = model.forward_export(image)
    assert np.abs(logits - ref_logits.numpy()).max() <= 1e-3
    assert np.abs(boxes - ref_boxes.numpy()).max() <= 1e-3
    twin = ex.build_from_bundle(bundle)
    with torch.no_grad():
        t_logits, _ = twin(image)
    assert torch.allclose(t_logits, ref_logits, atol=1e-6)


def test_teacher_is_not_exportable(tmp_path, capsys):
    assert ex.main(['v2i_teacher_tiny', '--out', str(tmp_path)]) == 2
    assert 'not a student' in capsys.readouterr().err
