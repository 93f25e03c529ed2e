"""rosbag2 I/O against real bags (ROS-recorded) and rosbags' own reader/deserialiser."""
import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from video_perception import bagio, msgs
from video_perception.ros_convert import detections_to_msg, label_info_msg
from video_perception.detections import Detections


def test_real_image_bag_normalises_stamps(shared_data):
    skipped = []
    with bagio.open_bag(shared_data / 'rosbag2_images_real' / 'images.bag') as bag:
        assert [(t.name, t.msgtype, t.count) for t in bag.topics()] == [
            ('/image', 'sensor_msgs/msg/Image', 3)]
        items = list(bag.images(on_skip=skipped.append))
    assert skipped == []
    # recorded as sec=0, nanosec=k*1e9 (not normalised); receive times 0, 1e9, 2e9
    assert [(m.msg.header.stamp.sec, m.msg.header.stamp.nanosec) for m in items] == [
        (0, 0), (1, 0), (2, 0)]
    assert [m.stamp_ns for m in items] == [0, 10**9, 2 * 10**9]
    assert [m.receive_ns for m in items] == [0, 10**9, 2 * 10**9]
    ref = bagio.typestore()
    with Reader(shared_data / 'rosbag2_images_real' / 'images.bag') as reader:
        for (conn, _, raw), item in zip(reader.messages(), items):
            want = ref.deserialize_cdr(raw, conn.msgtype)
            assert (item.msg.width, item.msg.height, item.msg.encoding) == (
                want.width, want.height, want.encoding) == (2, 2, 'mono8')
            assert item.msg.data == want.data.tobytes()
            assert item.msg.header.frame_id == want.header.frame_id


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_talker_bag_has_no_image_topic(shared_data, storage):
    with bagio.open_bag(shared_data / 'rosbag2_talker_real' / storage / 'talker') as bag:
        assert '/topic' in [t.name for t in bag.topics()]
        with pytest.raises(bagio.BagError, match=r'no image topic.*/topic \(std_msgs/msg/String'):
            list(bag.images())


def test_missing_and_corrupt_bags(tmp_path):
    with pytest.raises(bagio.BagError, match='no such file'):
        bagio.open_bag(tmp_path / 'nope')
    bad = tmp_path / 'bad'
    bad.mkdir()
    (bad / 'metadata.yaml').write_text('rosbag2_bagfile_information: {version: 5}\n')
    with pytest.raises(bagio.BagError, match='cannot open') as err:
        bagio.open_bag(bad)
    assert '\n' not in str(err.value)


def _frames(n):
    rng = np.random.default_rng(1)
    return [rng.integers(0, 255, (6, 8, 3), dtype=np.uint8) for _ in range(n)]


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_write_then_read_with_rosbags(tmp_path, storage):
    path = tmp_path / f'out_{storage}'
    frames = _frames(3)
    header = msgs.Header(stamp=msgs.Time(sec=5, nanosec=1), frame_id='cam')
    dets = Detections([[1, 2, 5, 6]], [0.9], [1])
    with bagio.write_bag(path, storage=storage) as bag:
        bag.write('/labels', label_info_msg(['a', 'b'], header), 10)
        for i, f in enumerate(frames):
            bag.write('/cam', msgs.Image(header=msgs.Header(stamp=msgs.Time(sec=i),
                                                            frame_id='cam'),
                                         height=6, width=8, encoding='bgr8', step=24,
                                         data=f), 100 + i)
        bag.write('/cam/compressed', msgs.CompressedImage(header=header, format='png',
                                                          data=b'\x89PNG'), 200)
        bag.write('/det', detections_to_msg(dets, header), 300)
    assert not any(p.name.startswith('.') for p in tmp_path.iterdir())
    # rosbags reads it back (vision_msgs from the definitions the bag carries)
    ref = bagio.typestore()
    with Reader(path) as reader:
        seen = {}
        for conn, t, raw in reader.messages():
            seen.setdefault(conn.topic, []).append((t, ref.deserialize_cdr(raw, conn.msgtype)))
    assert [t for t, _ in seen['/cam']] == [100, 101, 102]
    assert seen['/det'][0][1].detections[0].bbox.center.position.x == 3.0
    assert seen['/labels'][0][1].class_map[1].class_name == 'b'
    with bagio.open_bag(path) as bag:
        items = list(bag.images('/cam'))
        assert [np.frombuffer(i.msg.data, np.uint8).reshape(6, 8, 3).tolist()
                for i in items] == [f.tolist() for f in frames]
        assert len(list(bag.images())) == 4


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with bagio.write_bag(tmp_path / 'b') as bag:
            bag.write('/cam', msgs.Image(), 1)
            raise RuntimeError('crash')
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_truncated_storage_file_is_one_bag_error(tmp_path, storage):
    path = tmp_path / 'b'
    with bagio.write_bag(path, storage=storage, version=8) as bag:
        for i, f in enumerate(_frames(20)):
            bag.write('/cam', msgs.Image(height=6, width=8, encoding='bgr8', step=24, data=f), i)
    store = next(p for p in path.iterdir() if p.suffix in ('.db3', '.mcap'))
    data = store.read_bytes()
    store.write_bytes(data[:len(data) // 2])
    with pytest.raises(bagio.BagError) as err:
        with bagio.open_bag(path) as bag:
            assert len(list(bag.images())) == 20
    assert str(err.value).startswith(f'bag {path}') and '\n' not in str(err.value)


# what Humble's rosbag2_storage (metadata version 5) encodes; Jazzy reads it too
HUMBLE_V5_KEYS = {'version', 'storage_identifier', 'duration', 'starting_time', 'message_count',
                  'topics_with_message_count', 'compression_format', 'compression_mode',
                  'relative_file_paths', 'files'}


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_default_bag_is_version_5_and_reads_back(tmp_path, storage):
    import sqlite3

    import yaml
    path = tmp_path / 'v5'
    frames = _frames(2)
    with bagio.write_bag(path, storage=storage) as bag:
        for i, f in enumerate(frames):
            bag.write('/cam', msgs.Image(height=6, width=8, encoding='bgr8', step=24, data=f),
                      1_000 + i)
    info = yaml.safe_load((path / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert info['version'] == 5 and set(info) == HUMBLE_V5_KEYS
    topic = info['topics_with_message_count'][0]['topic_metadata']
    # version 9 made this a YAML list, which Humble's yaml-cpp refuses (bad conversion)
    assert set(topic) == {'name', 'type', 'serialization_format', 'offered_qos_profiles'}
    assert isinstance(topic['offered_qos_profiles'], str)
    assert info['relative_file_paths'] == [f'v5.{"db3" if storage == "sqlite3" else "mcap"}']
    with Reader(path) as reader:
        got = [(t, reader.connections[0].msgtype,
                bagio.typestore().deserialize_cdr(raw, c.msgtype).data.tobytes())
               for c, t, raw in reader.messages()]
    assert got == [(1_000 + i, 'sensor_msgs/msg/Image', f.tobytes())
                   for i, f in enumerate(frames)]
    if storage == 'sqlite3':
        conn = sqlite3.connect(path / 'v5.db3')
        try:
            assert conn.execute('SELECT schema_version FROM schema').fetchall() == [(3,)]
            assert [r[1] for r in conn.execute('PRAGMA table_info(topics)')] == [
                'id', 'name', 'type', 'serialization_format', 'offered_qos_profiles']
            (version, text), = conn.execute('SELECT metadata_version, metadata FROM metadata')
        finally:
            conn.close()
        assert version == 5 and yaml.safe_load(text)['relative_file_paths'] == ['v5.db3']


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_bag_version_9_on_request(tmp_path, storage):
    import yaml
    with bagio.write_bag(tmp_path / 'v9', storage=storage, version=9) as bag:
        bag.write('/cam', msgs.Image(height=1, width=2, encoding='mono8', step=2, data=b'ab'), 7)
    info = yaml.safe_load((tmp_path / 'v9' / 'metadata.yaml').read_text())
    assert info['rosbag2_bagfile_information']['version'] == 9
    with Reader(tmp_path / 'v9') as reader:
        assert [t for _, t, _ in reader.messages()] == [7]
    with pytest.raises(bagio.BagError, match='bag version 6: expected one of 5, 8, 9'):
        with bagio.write_bag(tmp_path / 'v6', version=6):
            pass
