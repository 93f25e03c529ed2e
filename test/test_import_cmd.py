"""``video-perception import``: an official-layout checkpoint -> a bundle the nodes serve.

The checkpoints are the official fixtures (test/fixtures/official/<layout>: the keys of the
official code's state dict, weights regenerated from the seed and hash-checked), saved the way the
official trainers save them (``{'model': sd}``; Deformable DETR and SAM-DETR add their argparse
``args``). End to end for each of the five layouts: the command exits 0, the bundle loads with
``load_bundle``, the node's detector serves a frame with it, and model.json / the detector /
LabelInfo carry the checkpoint's class names (COCO's 80, DETR's 91-id map with 'N/A' at id 0 and
the ten unused ids, Argoverse-HD's 8 for a DAMO-StreamNet release). Bad input: one line, exit 2,
nothing written.
"""
import argparse
import json

import numpy as np
import pytest
import torch

from official_fixtures import fixture_state_dict, load_fixture, streamnet_family_checkpoint
from training.coco_classes import COCO_80, COCO_91, COCO_UNUSED_IDS
from training.import_weights import main
from training.models.streamnet.zoo import ARGOVERSE_CLASSES

# layout -> (fixture folder, our model, --size, class names expected in model.json)
CASES = {
    'yolox': ('yolox', 'yolox_nano', '64x96', COCO_80),
    'damo-streamnet': ('damo_streamnet', 'streamnet_tiny', '64x96', ARGOVERSE_CLASSES),
    'detr': ('detr', 'detr_r50', '96x128', COCO_91),
    'deformable-detr': ('deformable_detr', 'deformable_detr_r50', '96x128', COCO_91),
    'sam-detr': ('sam_detr', 'sam_detr_r50', '96x128', COCO_91),
}


def official_file(layout: str, path) -> str:
    """The fixture's weights written as the official repository's trainer writes them."""
    fx = load_fixture(CASES[layout][0])
    if layout in ('yolox', 'damo-streamnet'):
        ckpt = streamnet_family_checkpoint(fx, 'float32')
    else:
        ckpt = {'model': {k: torch.from_numpy(np.asarray(v, np.float32))
                          for k, v in fixture_state_dict(fx).items()}}
        if layout != 'detr':       # main.py's utils.save_on_master({..., 'args': args})
            ckpt.update(epoch=49, args=argparse.Namespace(lr=2e-4, num_queries=300))
    torch.save(ckpt, str(path))
    return str(path)


def test_coco_tables():
    """COCO's 80 names in category-id order and DETR's 91-id map (ids from COCO 2017's
    annotation files: 1 person, 13 stop sign, 90 toothbrush; 12, 26, ... unused)."""
    assert len(COCO_80) == 80 == len(set(COCO_80)) and len(COCO_91) == 91
    assert (COCO_91[1], COCO_91[13], COCO_91[44], COCO_91[46], COCO_91[90]) == (
        'person', 'stop sign', 'bottle', 'wine glass', 'toothbrush')
    assert [i for i, n in enumerate(COCO_91) if n == 'N/A'] == [0, *COCO_UNUSED_IDS]


@pytest.mark.slow   # each exports and checks its graphs: ~1 min of CPU (R50: more)
@pytest.mark.timeout(1800)   # SAM-DETR R50 took 10 min wall on 2 cores shared by 8 jobs
@pytest.mark.parametrize('layout', list(CASES))
def test_import_writes_a_bundle_the_node_serves(layout, tmp_path, capsys):
    from video_perception.backends.base import BackendOptions
    from video_perception.bundle import load_bundle
    from video_perception.detector import load_detector
    from video_perception.msgs import Header
    from video_perception.ros_convert import label_info_msg
    _, model, size, classes = CASES[layout]
    ckpt = official_file(layout, tmp_path / 'official.pth')
    out = tmp_path / 'bundle'
    assert main([layout, ckpt, '--model', model, '--size', size, '--out', str(out)]) == 0
    printed = capsys.readouterr().out
    assert f'from the {layout} layout' in printed and '0 of the model left at init' in printed
    bundle = load_bundle(str(out))
    assert bundle.variant == model and tuple(bundle.classes) == tuple(classes)
    meta = json.loads((out / 'model.json').read_text())
    assert meta['provenance']['imported']['layout'] == layout
    if layout == 'yolox':   # a still detector: its boxes are stamped with the frame they saw
        assert bundle.future_frames == 0 and bundle.history_frames == 0
    det = load_detector(str(out), 'onnxruntime', BackendOptions(threads=1), log=lambda s: None,
                        score_threshold=0.0)
    assert tuple(det.class_names) == tuple(classes)
    frame = np.random.default_rng(0).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    dets = det.detect(frame, 0)
    assert len(dets.scores) > 0 and dets.class_ids.max() < len(classes)
    assert np.isfinite(dets.boxes_xyxy).all()
    names = [c.class_name for c in label_info_msg(det.class_names, Header()).class_map]
    assert names == list(classes)
    det.close()


def test_each_official_layout_is_recognised_by_its_keys():
    """The official state dicts' keys (from the official code, keys.json) give their layout;
    our own models' give None (they load as our checkpoints)."""
    from training.import_weights import detect_layout
    from training.models.streamnet import zoo
    for layout, (folder, *_) in CASES.items():
        keys = [k for k, _ in load_fixture(folder)['key_shapes']]
        assert detect_layout(dict.fromkeys(keys, torch.empty(0))) == layout, layout
    for name in ('streamnet_tiny', 'yolox_nano'):
        assert detect_layout(zoo.MODELS[name]().state_dict()) is None, name


def test_an_80_class_head_into_an_8_class_model_is_skipped_and_reported():
    """--classes argoverse on a COCO YOLOX: the three cls_preds (80 rows) cannot land; the
    summary names them with both shapes and says they stay at init."""
    from training.import_weights import build_model, import_into, summary, unwrap
    sd = unwrap(streamnet_family_checkpoint(load_fixture('yolox'), 'float32'))
    model, family, _ = build_model('yolox', 'yolox_nano', sd, len(ARGOVERSE_CLASSES))
    line = summary(import_into(model, sd, 'yolox'))
    assert family == 'streamnet'
    assert '6 skipped for shape (head.cls_preds.0.weight: shape [80, 64, 1, 1] != [8, 64, 1, 1]' \
        in line
    assert '6 of the model left at init (head.cls_preds.0.weight' in line


def _run(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def test_a_layout_no_importer_knows_is_refused(tmp_path, capsys):
    path = tmp_path / 'other.pth'
    torch.save({'model': {'encoder.fc.weight': torch.zeros(4, 4)}}, str(path))
    code, err = _run(['yolox', str(path), '--model', 'yolox_nano', '--out',
                      str(tmp_path / 'b')], capsys)
    assert code == 2 and len(err) == 1 and 'a layout no importer knows' in err[0]
    assert not (tmp_path / 'b').exists()


def test_a_checkpoint_of_another_kind_is_refused(tmp_path, capsys):
    ckpt = official_file('yolox', tmp_path / 'yolox_nano.pth')
    code, err = _run(['damo-streamnet', ckpt, '--model', 'streamnet_tiny', '--out',
                      str(tmp_path / 'b')], capsys)
    assert code == 2 and len(err) == 1
    assert 'holds a yolox layout, not damo-streamnet' in err[0]
    assert not (tmp_path / 'b').exists()


def test_a_model_the_layout_does_not_fit_is_refused(tmp_path, capsys):
    ckpt = official_file('damo-streamnet', tmp_path / 'streamnet.pth')
    code, err = _run(['damo-streamnet', ckpt, '--model', 'yolox_nano', '--out',
                      str(tmp_path / 'b')], capsys)
    assert code == 2 and len(err) == 1 and '--model yolox_nano' in err[0]
    assert 'streamnet_tiny' in err[0]


def test_a_non_empty_out_is_kept_without_force(tmp_path, capsys):
    ckpt = official_file('yolox', tmp_path / 'yolox_nano.pth')
    out = tmp_path / 'bundle'
    out.mkdir()
    (out / 'model.json').write_text('{"mine": 1}')
    code, err = _run(['yolox', ckpt, '--model', 'yolox_nano', '--out', str(out)], capsys)
    assert code == 2 and len(err) == 1 and '--force' in err[0]
    assert (out / 'model.json').read_text() == '{"mine": 1}'


def test_an_unreadable_file_is_one_line(tmp_path, capsys):
    path = tmp_path / 'broken.pth'
    path.write_bytes(b'not a checkpoint')
    code, err = _run(['detr', str(path), '--model', 'detr_r50', '--out', str(tmp_path / 'b')],
                     capsys)
    assert code == 2 and len(err) == 1 and 'cannot be read' in err[0]


def test_the_cli_dispatches_import():
    from video_perception.cli import SUBCOMMANDS
    assert SUBCOMMANDS['import'][0] == 'training.import_weights'
