"""``export --checkpoint`` with a bundle folder or its model.pt (re-export at another size, batch
or precision), and the --int8 options' one-line errors."""
import pathlib

import numpy as np
import onnxruntime as ort
import pytest
import torch

import int8_bundles
from training.export import main as export_main
from training.export import read_checkpoint

REPO = pathlib.Path(__file__).resolve().parents[1]
V2I = REPO / 'models' / 'v2i_distill_tiny_vocalfolds'


@pytest.mark.parametrize('which', ['folder', 'model.pt'])
def test_bundle_reads_as_a_checkpoint(which):
    from training.twin import _build_streamnet
    from training.models.streamnet.blocks import fuse_repconv
    root = int8_bundles.SHIPPED_TINY
    ck = read_checkpoint(str(root if which == 'folder' else root / 'model.pt'))
    assert ck.model_name == 'streamnet_tiny' and ck.fused_repconv
    assert ck.config['input_size'] == [192, 320] and len(ck.config['class_names']) == 8
    # reference: the file itself, prefix stripped by hand
    raw = torch.load(root / 'model.pt', map_location='cpu', weights_only=True)
    assert set(ck.weights) == {k[6:] for k in raw}
    model = fuse_repconv(_build_streamnet('streamnet_tiny', 8, {}).eval())
    model.load_state_dict(ck.weights, strict=True)       # fits once fused
    assert torch.equal(model.state_dict()['head.cls_preds.0.weight'],
                       raw['model.head.cls_preds.0.weight'])


def test_v2i_bundle_reads_as_a_checkpoint():
    from training.models.detr import zoo
    ck = read_checkpoint(str(V2I / 'model.pt'))
    assert ck.model_name == 'deformable_detr_tiny' and not ck.fused_repconv
    model = zoo.build(ck.model_name, len(ck.config['class_names']),
                      **ck.config['model_kwargs'])
    model.load_state_dict(ck.weights, strict=True)


def test_int8_needs_calib_and_bad_sources_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        export_main(['streamnet_tiny', '--out', str(tmp_path / 'a'), '--int8'])
    assert exc.value.code == 2
    assert '--int8 and --calib go together' in capsys.readouterr().err
    assert export_main(['streamnet_tiny', '--out', str(tmp_path / 'b'), '--int8', '--calib',
                        str(tmp_path / 'nowhere')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'nowhere' in err[0] and 'no such file' in err[0]
    assert export_main(['streamnet_tiny', '--out', str(tmp_path / 'c'), '--int8', '--calib',
                        str(REPO / 'README.md')]) == 2
    assert not (tmp_path / 'b').exists() and not (tmp_path / 'c').exists()


def _run(path, feeds):
    return ort.InferenceSession(str(path), providers=['CPUExecutionProvider']).run(None, feeds)


@pytest.mark.slow
@pytest.mark.timeout(1800)    # two exports; minutes each on a loaded 2-core machine
def test_reexport_from_model_pt_equals_shipped_graphs_and_int8_from_folder(tmp_path):
    root = int8_bundles.SHIPPED_TINY
    assert export_main(['--checkpoint', str(root / 'model.pt'), '--out',
                        str(tmp_path / 'fp32')]) == 0
    x = np.random.default_rng(0).uniform(0, 255, (1, 3, 192, 320)).astype(np.float32)
    for a, b in zip(_run(root / 'encoder.onnx', {'image': x}),
                    _run(tmp_path / 'fp32' / 'encoder.onnx', {'image': x})):
        np.testing.assert_allclose(a, b, atol=1e-4)
    bag = int8_bundles.calib_bag(tmp_path)
    assert export_main(['--checkpoint', str(root), '--out', str(tmp_path / 'int8'), '--int8',
                        '--calib', str(bag), '--calib-frames', '6', '--size', '160x256']) == 0
    from video_perception.bundle import load_bundle
    b = load_bundle(str(tmp_path / 'int8'))
    assert (b.height, b.width, b.raw['precision']) == (160, 256, 'int8')
