"""Frame sources: natural order and stamps of image folders, video stamps from the frame rate,
dataset order and ids, bag topic choice; against OpenCV and values written here."""
import json

import cv2
import numpy as np
import pytest

from video_perception import bagio, msgs
from video_perception.sources import SourceError, natural_key, open_source


def test_natural_key_orders_numbers_by_value():
    names = ['f10.png', 'f2.png', 'F1.png', 'f1a.png']
    assert sorted(names, key=natural_key) == ['F1.png', 'f1a.png', 'f2.png', 'f10.png']


def test_image_folder_natural_order_and_stamps(tmp_path):
    for k in (10, 2, 1):
        cv2.imwrite(str(tmp_path / f'frame{k}.png'), np.full((8, 8, 3), k, np.uint8))
    (tmp_path / 'notes.txt').write_text('not a frame')
    src = open_source(tmp_path, fps=20)
    frames = list(src.frames())
    assert src.kind == 'folder' and src.count == 3
    assert [int(f.load()[0, 0, 0]) for f in frames] == [1, 2, 10]
    assert [f.stamp_ns for f in frames] == [0, 50_000_000, 100_000_000]


def test_video_stamps_from_frame_rate(tmp_path):
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (32, 16))
    for k in range(5):
        writer.write(np.full((16, 32, 3), 40 * k, np.uint8))
    writer.release()
    src = open_source(path)
    frames = list(src.frames())
    assert src.kind == 'video' and src.fps == pytest.approx(10.0)
    assert [f.stamp_ns for f in frames] == [k * 100_000_000 for k in range(5)]
    means = [float(f.load().mean()) for f in frames]
    assert means == pytest.approx([40 * k for k in range(5)], abs=3)


def test_dataset_order_ids_and_segments(tmp_path):
    images = []
    for vid, n in ((5, 2), (1, 3)):
        for k in range(n):
            name = f'v{vid}_{k}.png'
            cv2.imwrite(str(tmp_path / name), np.zeros((4, 4, 3), np.uint8))
            images.append({'id': vid * 10 + k, 'file_name': name, 'height': 4, 'width': 4,
                           'video_id': vid, 'frame_id': k, 'timestamp': 0.5 * k})
    data = {'videos': [{'id': 5, 'name': 'a'}, {'id': 1, 'name': 'b'}],
            'images': images[::-1], 'annotations': [],
            'categories': [{'id': 1, 'name': 'x'}]}
    (tmp_path / 'dataset.json').write_text(json.dumps(data))
    frames = list(open_source(tmp_path).frames())
    assert [(f.image_id, f.segment, f.stamp_ns) for f in frames] == [
        (50, 5, 0), (51, 5, 500_000_000), (10, 1, 0), (11, 1, 500_000_000),
        (12, 1, 1_000_000_000)]


def _image(stamp_ns):
    return msgs.Image(header=msgs.Header(stamp=msgs.Time.from_ns(stamp_ns), frame_id='cam'),
                      height=1, width=2, encoding='mono8', is_bigendian=0, step=2,
                      data=bytes([stamp_ns // 1_000_000, 0]))


def test_bag_topics(tmp_path):
    with bagio.write_bag(tmp_path / 'two', storage='mcap') as w:
        for k in range(3):
            w.write('/a', _image(k * 1_000_000), k * 1_000_000 + 7)
            w.write('/b', _image(k * 1_000_000), k * 1_000_000 + 9)
    with pytest.raises(SourceError, match='--topic'):
        open_source(tmp_path / 'two')
    with pytest.raises(SourceError, match="'/c'"):
        open_source(tmp_path / 'two', topic='/c')
    src = open_source(tmp_path / 'two', topic='/b')
    frames = list(src.frames())
    assert src.storage == 'mcap' and src.count == 3
    assert [(f.stamp_ns, f.receive_ns, f.frame_id) for f in frames] == [
        (k * 1_000_000, k * 1_000_000 + 9, 'cam') for k in range(3)]
    assert frames[2].load().shape == (1, 2, 3) and frames[2].load()[0, 0].tolist() == [2, 2, 2]


def test_missing_source_is_one_line(tmp_path):
    with pytest.raises(SourceError, match='no such file'):
        open_source(tmp_path / 'absent')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SourceError, match='no images'):
        open_source(tmp_path / 'empty')
