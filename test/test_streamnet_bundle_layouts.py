"""Bundles that buffer long-path reductions (``history.current``) and bundles of the layout before
(the buffered features are the current ones) load, run and agree; a model.json whose
``history.current`` disagrees with the graphs is refused in one line naming both."""
import json
import pathlib
import shutil

import cv2
import numpy as np
import pytest

import tiny_bundles
from test_detector_streamnet import PERIOD, box_centre, centre_of, frame_with_square
from video_perception.backends.base import BackendOptions
from video_perception.bundle import BundleError, load_bundle, write_model_json
from video_perception.bundle_check import check_bundle
from video_perception.detector import load_detector

pytestmark = pytest.mark.xdist_group('h3_bundles')
SHIPPED = pathlib.Path(__file__).resolve().parents[1] / 'models' / 'streamnet_tiny_synth'


def _detect(root, backend, frames, **kw):
    det = load_detector(str(root), backend, BackendOptions(threads=1), log=lambda s: None, **kw)
    return det, [det.detect(f, i * PERIOD) for i, f in enumerate(frames)]


@pytest.mark.parametrize('backend', ['onnxruntime', 'torch'])
@pytest.mark.parametrize('step', [1, 2])
def test_both_layouts_give_the_known_answer(tmp_path, backend, step):
    frames = [frame_with_square(i) for i in range(7)]
    runs = {}
    for cached in (True, False):
        root = tiny_bundles.make_streamnet_bundle(str(tmp_path / f'c{cached}'), frames=3,
                                                  step=step, cached=cached)
        runs[cached] = _detect(root, backend, frames)
    new, old = runs[True][0], runs[False][0]
    assert new.buffer.names == ['ca'] and old.buffer.names == ['fa', 'fb']
    for i in range(step, 7):       # 2 c(t) - c(t - dt): the buffer's step-th newest entry
        want = 2 * centre_of(frames[i]) - centre_of(frames[i - step])
        for cached, (_, out) in runs.items():
            np.testing.assert_allclose(box_centre(out[i]), want, atol=0.5, err_msg=str(cached))
    for a, b in zip(runs[True][1], runs[False][1]):
        np.testing.assert_array_equal(a.boxes_xyxy, b.boxes_xyxy)
        np.testing.assert_array_equal(a.scores, b.scores)


def _old_layout_export(tmp_path) -> pathlib.Path:
    """The shipped weights (model.pt) exported in the layout before the buffered reductions."""
    from training import export as ex
    from training.models.streamnet.export_onnx import StreamNetGraphs, export_streamnet_onnx
    bundle = load_bundle(str(SHIPPED))
    graphs = ex.build_from_bundle(bundle)
    old = StreamNetGraphs(graphs.model, cached=False).eval()
    out = tmp_path / 'old'
    res = export_streamnet_onnx(old, bundle.height, bundle.width, str(out), ex.OPSET,
                                check=False)
    assert res['current'] == []
    meta = json.loads((SHIPPED / 'model.json').read_text())
    del meta['history']['current']
    meta['history']['features'] = [{'name': n, 'shape': list(s)} for n, s in res['features']]
    shutil.copy(SHIPPED / 'model.pt', out / 'model.pt')
    write_model_json(str(out), meta)
    return out


@pytest.mark.xdist_group('export')
@pytest.mark.parametrize('backend', ['onnxruntime', 'torch'])
def test_shipped_bundle_equals_its_old_layout_on_real_frames(tmp_path, shared_data, backend):
    frames = [cv2.imread(str(p)) for p in
              sorted((shared_data / 'argoverse_hd_sample' / 'frames').glob('*.jpg'))[:8]]
    old_root = _old_layout_export(tmp_path)
    assert [f.name for f in load_bundle(str(old_root)).features] == ['f0', 'f1', 'f2']
    new, got = _detect(SHIPPED, backend, frames, score_threshold=0.05)
    old, want = _detect(old_root, backend, frames, score_threshold=0.05)
    assert [f.name for f in new.bundle.current_features] == ['f0', 'f1', 'f2']
    # the buffer keeps 5 + 10 + 21 reduced channels per frame instead of 32 + 64 + 128
    assert new.buffer.nbytes() * 6 < old.buffer.nbytes()
    assert sum(len(d.scores) for d in want) > 50      # a real comparison, not of empty lists
    for t, (a, b) in enumerate(zip(got, want)):
        assert a.class_ids.tolist() == b.class_ids.tolist(), f'frame {t}'
        np.testing.assert_allclose(a.boxes_xyxy, b.boxes_xyxy, atol=1e-3, err_msg=f'frame {t}')
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-5, err_msg=f'frame {t}')


def _edit(root, edit):
    path = pathlib.Path(root) / 'model.json'
    meta = json.loads(path.read_text())
    edit(meta['history'])
    path.write_text(json.dumps(meta))
    return load_bundle(str(root))


@pytest.mark.parametrize('cached,edit,words', [
    (True, lambda h: h.pop('current'),
     ['history.features names (no history.current) is', "['ca']",
      "encoder.onnx outputs has ['fa', 'fb', 'ca']"]),
    (True, lambda h: h['current'][0].update(name='fx'),
     ['history.current + history.features names is', "['fx', 'fb', 'ca']",
      "['fa', 'fb', 'ca']"]),
    (True, lambda h: h['current'][1].update(shape=[1, 3, 1, 1]),
     ['history.current "fb" shape is [1, 3, 1, 1]', 'encoder.onnx output "fb" has [1, 1, 1, 1]']),
    (False, lambda h: h.update(current=[dict(f) for f in h['features']]),
     ['history.current + history.features names is', "['fa', 'fb', 'fa', 'fb']",
      "encoder.onnx outputs has ['fa', 'fb']"]),
])
def test_history_current_disagreeing_with_the_graphs_is_refused(tmp_path, cached, edit, words):
    root = tiny_bundles.make_streamnet_bundle(str(tmp_path / 'b'), frames=2, cached=cached)
    check_bundle(load_bundle(root))                      # as exported: accepted
    bundle = _edit(root, edit)
    with pytest.raises(BundleError) as err:
        check_bundle(bundle)
    msg = str(err.value)
    assert '\n' not in msg and all(w in msg for w in words), msg
    with pytest.raises(BundleError):
        load_detector(root, 'onnxruntime', log=lambda s: None)


def test_history_current_of_the_wrong_type_is_one_line_at_load(tmp_path):
    root = tiny_bundles.make_streamnet_bundle(str(tmp_path / 'b'), frames=2, cached=True)
    path = pathlib.Path(root) / 'model.json'
    meta = json.loads(path.read_text())
    meta['history']['current'] = {'name': 'fa'}
    path.write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"history\.current: \{'name': 'fa'\}: expected a list$"):
        load_bundle(root)
