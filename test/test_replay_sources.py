"""Frame sources: natural order and stamps of image folders, video stamps from the frame rate,
dataset order and ids, bag topic choice; against OpenCV and values written here."""
import json

import cv2
import numpy as np
import pytest

from video_perception import bagio, msgs
from video_perception.sources import (parse_sim, sim_frames, SourceError, natural_key,
                                      open_source, stamp_from_name)


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


def test_folder_stamps_from_argoverse_names(tmp_path):
    names = ['ring_front_center_315976361143060128.jpg',
             'ring_front_center_315976361109760008.jpg']
    for n in names:
        cv2.imwrite(str(tmp_path / n), np.zeros((4, 4, 3), np.uint8))
    src = open_source(tmp_path, fps=20)
    assert src.stamped
    assert [f.stamp_ns for f in src.frames()] == [315976361109760008, 315976361143060128]
    # a 6-digit frame number is not a stamp: one such file makes the folder index-stamped
    cv2.imwrite(str(tmp_path / 'ring_front_center_000003.jpg'), np.zeros((4, 4, 3), np.uint8))
    src = open_source(tmp_path, fps=20)
    assert not src.stamped
    assert [f.stamp_ns for f in src.frames()] == [0, 50_000_000, 100_000_000]
    assert stamp_from_name('a_0000000000000012.png') == 12 and stamp_from_name('f12.png') is None


def test_simulated_camera(tmp_path):
    with pytest.raises(SourceError, match='never ends'):
        open_source('sim:8x4')
    with pytest.raises(SourceError, match='sim:WIDTHxHEIGHT'):
        open_source('sim:8by4', simulated=True)
    assert parse_sim('camera-sim') == (640, 480) and parse_sim(str(tmp_path)) is None
    src = open_source('sim:8x6', fps=10, simulated=True)
    frames = [f for f, _ in zip(src.frames(), range(3))]
    assert (src.kind, src.count, src.stamped) == ('sim', None, False)
    assert [f.stamp_ns for f in frames] == [0, 100_000_000, 200_000_000]
    gen = sim_frames(8, 6)
    for f in frames:  # the simulator's own frames, in order
        want = next(gen)
        assert f.load().shape == (6, 8, 3) and (f.load() == want).all()
    assert (frames[0].load()[0, 0] == [255, 255, 255]).all()
    assert (frames[0].load()[5, 7] == [255, 255, 96]).all()
