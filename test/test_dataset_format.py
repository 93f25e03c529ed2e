"""The canonical video dataset: reader, validator messages, writer, pycocotools compatibility."""
import copy
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from video_perception.dataset import (DatasetBuilder, DatasetError, load_video_dataset,
                                      write_video_dataset)


def _valid():
    b = DatasetBuilder([(1, 'car'), (3, 'person')])
    for name in ('seq-a', 'seq-b'):
        vid = b.add_video(name, fps=10)
        for f in range(4):
            iid = b.add_image(vid, f'{name}/{f:04d}.jpg', 480, 640, f / 10)
            b.add_box(iid, 1, [10 + f, 20, 30, 40], instance_id=7)
            b.add_box(iid, 3, [600, 400, 40, 80], ignore=(f == 2))
    return b.build()


def _problems(data, tmp_path):
    path = tmp_path / 'dataset.json'
    path.write_text(json.dumps(data))
    return load_video_dataset(path, validate=False).validate()


def test_valid_dataset_has_no_problems_and_indexes(tmp_path):
    data = _valid()
    # Shuffle the image list: the index must still order each video by frame_id.
    data['images'] = data['images'][::-1]
    write_video_dataset(data, tmp_path)
    ds = load_video_dataset(tmp_path)
    assert ds.validate() == []
    for vid, ids in ds.frames.items():
        assert [ds.images[i]['frame_id'] for i in ids] == [0, 1, 2, 3]
        assert all(ds.images[i]['video_id'] == vid for i in ids)
    boxes, cats, _ = ds.frame_boxes(2)  # image 2: seq-a frame 2, its person box is ignored
    np.testing.assert_allclose(boxes, [[12, 20, 42, 60]])
    assert cats.tolist() == [1]
    boxes, cats, ign = ds.frame_boxes(2, with_ignored=True)
    assert cats.tolist() == [1, 3] and ign.tolist() == [False, True]
    assert ds.timestamp(5) == pytest.approx(0.1)


def test_frame_id_jump_is_named(tmp_path):
    data = _valid()
    # seq-b (video 1): frame 2 (image 6) removed, so frame_id jumps from 1 to 3 at image 7.
    data['images'] = [im for im in data['images'] if im['id'] != 6]
    data['annotations'] = [a for a in data['annotations'] if a['image_id'] != 6]
    assert _problems(data, tmp_path) == [
        "dataset.json: video 1 'seq-b': frame_id jumps from 1 to 3 at image 7"]


def test_first_frame_repeat_and_time_order(tmp_path):
    data = _valid()
    for im in data['images']:
        if im['video_id'] == 0:
            im['frame_id'] += 1
    data['images'][5]['frame_id'] = 0  # seq-b frame 1 says 0: a repeat
    data['images'][6]['timestamp'] = 0.05  # and frame 2 goes back in time
    assert _problems(data, tmp_path) == [
        "dataset.json: video 0 'seq-a': first frame_id is 1 at image 0, expected 0",
        "dataset.json: video 1 'seq-b': frame_id 0 repeated at image 5",
        "dataset.json: video 1 'seq-b': frame_id jumps from 0 to 2 at image 6",
        "dataset.json: video 1 'seq-b': timestamp 0.05 at image 6 (frame_id 2) is not after "
        "the previous frame's 0.1"]


def test_annotation_problems_are_named(tmp_path):
    data = _valid()
    data['annotations'][3]['bbox'] = [620.0, 20.0, 30.0, 40.0]
    data['annotations'][4]['category_id'] = 7
    data['annotations'][5]['bbox'] = [1.0, 2.0, 0.0, 3.0]
    data['annotations'][6]['image_id'] = 99
    data['annotations'][7]['bbox'] = [1.0, float('nan'), 2.0, 3.0]
    assert _problems(data, tmp_path) == [
        'dataset.json: annotation 3: bbox [620.0, 20.0, 30.0, 40.0] outside image 640x480 '
        '(image 1)',
        'dataset.json: annotation 4: category_id 7 not in categories',
        'dataset.json: annotation 5: bbox [1.0, 2.0, 0.0, 3.0] has non-positive width or height',
        'dataset.json: annotation 6: image_id 99 not in images',
        'dataset.json: annotation 7: bbox [1.0, nan, 2.0, 3.0] is not 4 finite numbers '
        '[x, y, w, h]']


def test_structure_problems(tmp_path):
    data = _valid()
    data['images'][1]['id'] = 0
    data['images'][2]['video_id'] = 5
    del data['images'][3]['file_name']
    probs = _problems(data, tmp_path)
    assert "dataset.json: images[1]: duplicate id 0" in probs
    assert "dataset.json: image 2: video_id 5 not in videos" in probs
    assert "dataset.json: images[3]: 'file_name' missing or not str (got None)" in probs
    bad = copy.deepcopy(data)
    del bad['categories']
    (tmp_path / 'x.json').write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match="top-level key 'categories' missing"):
        load_video_dataset(tmp_path / 'x.json')
    (tmp_path / 'y.json').write_text('{"videos": [')
    with pytest.raises(DatasetError, match='not valid JSON'):
        load_video_dataset(tmp_path / 'y.json')
    with pytest.raises(DatasetError, match='jumps|duplicate|not in videos'):
        load_video_dataset(tmp_path / 'dataset.json')


def test_check_files(tmp_path):
    data = _valid()
    write_video_dataset(data, tmp_path)
    ds = load_video_dataset(tmp_path)
    probs = ds.validate(check_files=True)
    assert len(probs) == 8
    assert probs[0] == (f"dataset.json: image 0: frame file 'seq-a/0000.jpg' not found under "
                        f'{tmp_path}')


def test_writer_is_atomic_and_round_trips(tmp_path):
    data = _valid()
    path = write_video_dataset(data, tmp_path / 'out')
    assert path == tmp_path / 'out' / 'dataset.json'
    assert json.loads(path.read_text()) == data
    assert [p.name for p in path.parent.iterdir()] == ['dataset.json']  # no temp file left
    with pytest.raises(ValueError):  # NaN is not JSON: nothing replaces the good file
        write_video_dataset({'x': float('nan')}, path)
    assert json.loads(path.read_text()) == data
    assert [p.name for p in path.parent.iterdir()] == ['dataset.json']


def test_pycocotools_reads_it_as_is(tmp_path):
    path = write_video_dataset(_valid(), tmp_path)
    coco = COCO(str(path))
    assert sorted(coco.getCatIds()) == [1, 3]
    assert len(coco.getAnnIds(imgIds=[0])) == 2
    assert coco.loadAnns(coco.getAnnIds(imgIds=[2], catIds=[3]))[0]['iscrowd'] == 1


def test_bdd_cocovid_file_validates(shared_data):
    path = shared_data / 'bdd100k_eval_case' / 'cocoformat_track_sample_annotations.json'
    ds = load_video_dataset(path)
    assert len(ds.videos) == 1
    (vid,) = ds.frames
    assert len(ds.frames[vid]) == 202
    # No timestamps and no fps in that file: time falls back to frame_id / 30.
    assert ds.timestamp(ds.frames[vid][30]) == pytest.approx(1.0)
