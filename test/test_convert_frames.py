"""Frames without ground truth: an image folder, a video file and a rosbag2 image topic."""
import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from training.data import convert
from video_perception.dataset import load_video_dataset


def test_image_folder_with_name_timestamps(shared_data, tmp_path):
    folder = shared_data / 'argoverse_hd_sample' / 'frames'
    rc = convert.main(['frames', str(folder), str(tmp_path), '--timestamps', 'name-ns'])
    assert rc == 0
    ds = load_video_dataset(tmp_path, check_files=True)
    names = sorted(p.name for p in folder.glob('*.jpg'))
    ids = ds.frames[0]
    assert [ds.image_path(i).name for i in ids] == names
    ns = [int(n.split('_')[-1][:-4]) for n in names]
    assert [ds.timestamp(i) for i in ids] == pytest.approx([(v - ns[0]) * 1e-9 for v in ns])
    assert (ds.images[0]['width'], ds.images[0]['height']) == (1920, 1200)
    assert ds.data['annotations'] == [] and ds.data['categories'] == []


def test_nested_folders_index_timestamps(tmp_path):
    for seq, n in (('a', 3), ('b/c', 2)):
        (tmp_path / 'src' / seq).mkdir(parents=True)
        for k in range(n):
            cv2.imwrite(str(tmp_path / 'src' / seq / f'img{k + 8}.png'),
                        np.full((6, 10), k, np.uint8))
    rc = convert.main(['frames', str(tmp_path / 'src'), str(tmp_path / 'out'), '--recursive',
                       '--fps', '10', '--classes', 'car,person'])
    assert rc == 0
    ds = load_video_dataset(tmp_path / 'out', check_files=True)
    assert [v['name'] for v in ds.videos.values()] == ['a', 'b/c']
    assert [ds.image_path(i).name for i in ds.frames[0]] == ['img8.png', 'img9.png', 'img10.png']
    assert [ds.timestamp(i) for i in ds.frames[0]] == pytest.approx([0, 0.1, 0.2])
    assert ds.data['categories'] == [{'id': 0, 'name': 'car'}, {'id': 1, 'name': 'person'}]


def test_video_file(tmp_path):
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 15.0, (64, 48))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for k in range(12):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    decoded = []
    cap = cv2.VideoCapture(str(path))
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        decoded.append(frame)
    assert len(decoded) == 12
    assert convert.main(['frames', str(path), str(tmp_path / 'out')]) == 0
    ds = load_video_dataset(tmp_path / 'out', check_files=True)
    ids = ds.frames[0]
    assert [ds.timestamp(i) for i in ids] == pytest.approx([k / 15 for k in range(12)])
    for iid, want in zip(ids, decoded):
        np.testing.assert_array_equal(cv2.imread(str(ds.image_path(iid))), want)


def test_rosbag2_real_bag(shared_data, tmp_path):
    bag = shared_data / 'rosbag2_images_real' / 'images.bag'
    assert convert.main(['rosbag2', str(bag), str(tmp_path)]) == 0
    ds = load_video_dataset(tmp_path, check_files=True)
    ts = get_typestore(Stores.ROS2_HUMBLE)
    with Reader(bag) as reader:
        msgs = [ts.deserialize_cdr(raw, c.msgtype) for c, _, raw in reader.messages()]
    ids = ds.frames[0]
    assert len(ids) == len(msgs) == 3
    for iid, msg in zip(ids, msgs):
        want = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width)
        np.testing.assert_array_equal(cv2.imread(str(ds.image_path(iid)), -1), want)
        # Unnormalised stamps (nanosec = 1e9, 2e9) still mean 1 s and 2 s.
        assert ds.timestamp(iid) == msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    assert [ds.timestamp(i) for i in ids] == [0.0, 1.0, 2.0]


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_rosbag2_without_image_topic(shared_data, tmp_path, capsys, storage):
    bag = shared_data / 'rosbag2_talker_real' / storage / 'talker'
    assert convert.main(['rosbag2', str(bag), str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'no image topic' in err and '/topic' in err
