"""Student export: ONNX Runtime parity with torch, TensorRT-parsable operators, postprocess."""
import os

import numpy as np
import pytest
import torch

from training.models.detr import zoo
from training.models.detr.export_onnx import export_student_onnx
from training.models.detr.postprocess import postprocess

TRT_OPS = '/work/shared/data/tensorrt10_onnx_ops.json'


def _trt_ops():
    return TRT_OPS if os.path.isfile(TRT_OPS) else None


@pytest.mark.parametrize('name,kind', [('detr_tiny', 'detr_softmax'),
                                       ('deformable_detr_tiny', 'detr_sigmoid'),
                                       ('sam_detr_tiny', 'detr_sigmoid')])
def test_tiny_student_onnx_matches_torch(name, kind, tmp_path):
    torch.manual_seed(0)
    model = zoo.build(name)
    assert model.output_kind == kind
    path = str(tmp_path / 'student.onnx')
    res = export_student_onnx(model, 128, 160, path, trt_ops_json=_trt_ops())
    assert os.path.isfile(path) and not [p for p in os.listdir(tmp_path) if p != 'student.onnx']
    assert res['max_abs_logits'] <= 1e-3 and res['max_abs_boxes'] <= 1e-3
    assert res['num_queries'] == 30
    import onnx
    graph = onnx.load(path).graph
    assert [i.name for i in graph.input] == ['image', 'valid_hw']
    dims = [[d.dim_value for d in i.type.tensor_type.shape.dim] for i in graph.input]
    assert dims == [[1, 3, 128, 160], [1, 2]]
    c = 3 if kind == 'detr_softmax' else 2
    out_dims = [[d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.output]
    assert out_dims == [[1, 30, c], [1, 30, 4]]


@pytest.mark.slow
@pytest.mark.parametrize('name', ['detr_r50', 'deformable_detr_r50', 'sam_detr_r50'])
def test_r50_student_onnx_matches_torch_at_512(name, tmp_path):
    res = export_student_onnx(zoo.build(name, 2), 512, 512, str(tmp_path / 's.onnx'),
                              trt_ops_json=_trt_ops())
    assert max(res['max_abs_logits'], res['max_abs_boxes']) <= 1e-3


def test_export_rejects_bad_size(tmp_path):
    with pytest.raises(ValueError, match='at least 32x32'):
        export_student_onnx(zoo.build('detr_tiny'), 16, 128, str(tmp_path / 'x.onnx'))


def test_postprocess_sigmoid_topk_by_hand():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 5, 3, generator=gen)
    boxes = torch.rand(1, 5, 4, generator=gen) * 0.5 + 0.2
    res = postprocess(logits, boxes, 'detr_sigmoid', torch.tensor([[100, 200]]), top_k=4)[0]
    p = 1 / (1 + np.exp(-logits[0].numpy()))
    pairs = sorted(((p[q, c], q, c) for q in range(5) for c in range(3)), reverse=True)[:4]
    assert np.allclose(res['scores'].numpy(), [s for s, _, _ in pairs], atol=1e-6)
    assert res['labels'].tolist() == [c for _, _, c in pairs]
    for (_, q, _), got in zip(pairs, res['boxes'].numpy()):
        cx, cy, w, h = boxes[0, q].tolist()
        want = [(cx - w / 2) * 200, (cy - h / 2) * 100, (cx + w / 2) * 200, (cy + h / 2) * 100]
        assert np.allclose(got, want, atol=1e-4)


def test_postprocess_softmax_drops_no_object():
    logits = torch.tensor([[[0.0, 1.0, 5.0], [2.0, 0.0, 0.0]]])
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.2], [0.25, 0.5, 0.5, 1.0]]])
    res = postprocess(logits, boxes, 'detr_softmax', torch.tensor([[10, 20]]))[0]
    e = np.exp([0.0, 1.0, 5.0])
    assert res['labels'].tolist() == [1, 0]
    assert res['scores'][0].item() == pytest.approx(e[1] / e.sum(), rel=1e-5)
    assert res['boxes'][1].tolist() == pytest.approx([0.0, 0.0, 10.0, 10.0])


@pytest.mark.slow
def test_dynamo_export_has_static_intermediate_shapes(tmp_path):
    import onnx
    path = str(tmp_path / 'student.onnx')
    res = export_student_onnx(zoo.build('deformable_detr_tiny'), 128, 128, path, dynamo=True,
                              trt_ops_json=_trt_ops())
    assert max(res['max_abs_logits'], res['max_abs_boxes']) <= 1e-3
    inferred = onnx.shape_inference.infer_shapes(onnx.load(path), strict_mode=True)
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = vi.type.tensor_type.shape.dim
        assert all(d.HasField('dim_value') for d in dims), vi.name
