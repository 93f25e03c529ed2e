"""`video-perception publish` and `echo` against each other, a plain cyclonedds client, and the
real bags in ../shared/data."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from video_perception import msgs
from video_perception.detections import Detections
from video_perception.ros_convert import detections_to_msg
from video_perception.transport.base import QOS_DEFAULT
from video_perception.transport.dds_transport import DdsTransport

from test_dds_transport import CLIENT

PY = sys.executable
CLI = [PY, '-m', 'video_perception.cli']


def _env():
    return dict(os.environ, PYTHONPATH=os.getcwd())


def _echo(*args):
    return subprocess.Popen(CLI + ['echo', *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())


def _publish(*args, timeout=60):
    return subprocess.run(CLI + ['publish', *args], capture_output=True, text=True, env=_env(),
                          timeout=timeout)


def test_publish_sim_to_echo(ros_domain):
    # best effort (echo's default for images): publish 6 so that a lost one does not matter
    echo = _echo('/cam', '--count', '3', '--timeout', '30')
    pub = _publish('sim:64x48', '--topic', '/cam', '--count', '6', '--rate', '20',
                   '--encoding', 'rgb8', '--frame-id', 'simcam', '--wait-subscribers', '15')
    assert pub.returncode == 0, pub.stderr
    out, err = echo.communicate(timeout=40)
    assert echo.returncode == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 3
    assert all('frame_id=simcam 64x48 rgb8 step=192 bytes=9216' in line for line in lines)


def test_publish_real_bag_keeps_source_stamps(ros_domain, shared_data, tmp_path):
    from video_perception.tools.publish import read_times
    echo = _echo('/replay', '--count', '3', '--timeout', '30', '--json', '--qos', 'default')
    pub = _publish(str(shared_data / 'rosbag2_images_real' / 'images.bag'), '--topic',
                   '/replay', '--stamps', 'source', '--rate', '20', '--wait-subscribers', '15',
                   '--times', str(tmp_path / 'times.txt'))
    assert pub.returncode == 0, pub.stderr
    # --times: the bag's stamps, paced at 20 Hz on this machine's monotonic clock
    times = read_times(tmp_path / 'times.txt')
    assert list(times)[:3] == [0, 1_000_000_000, 2_000_000_000]
    gaps = np.diff(list(times.values()))
    assert (gaps > 0.05 * 0.8).all() and times[0] < time.monotonic()
    out, err = echo.communicate(timeout=40)
    assert echo.returncode == 0, err
    import json
    got = [json.loads(line) for line in out.strip().splitlines()]
    # the bag says sec=0, nanosec=k*1e9: normalised on the wire
    assert [(g['header']['stamp']['sec'], g['header']['stamp']['nanosec']) for g in got] == [
        (0, 0), (1, 0), (2, 0)]
    assert {(g['width'], g['height'], g['encoding'], g['data']['bytes']) for g in got} == {
        (2, 2, 'mono8', 4)}


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_talker_bag_is_a_clear_error(shared_data, storage):
    bag = str(shared_data / 'rosbag2_talker_real' / storage / 'talker')
    pub = _publish(bag, '--topic', '/x', '--wait-subscribers', '0')
    assert pub.returncode == 1
    assert 'no image topic' in pub.stderr and 'Traceback' not in pub.stderr
    echo = subprocess.run(CLI + ['echo', bag], capture_output=True, text=True, env=_env())
    assert echo.returncode == 1 and 'no image topic' in echo.stderr


def test_echo_reads_real_bag(shared_data):
    out = subprocess.run(CLI + ['echo', str(shared_data / 'rosbag2_images_real' / 'images.bag')],
                         capture_output=True, text=True, env=_env())
    assert out.returncode == 0, out.stderr
    assert [line.split(' stamp=')[1].split()[0] for line in out.stdout.splitlines()] == [
        '0.000000000', '1.000000000', '2.000000000']


def test_independent_client_gets_publish_output(ros_domain):
    client = subprocess.Popen([PY, '-c', CLIENT, 'sub', str(ros_domain), '/ind', '2'],
                              stdout=subprocess.PIPE, text=True, env=_env())
    pub = _publish('sim:4x2', '--topic', '/ind', '--count', '2', '--encoding', 'mono8',
                   '--frame-id', 'f', '--wait-subscribers', '15')
    assert pub.returncode == 0, pub.stderr
    out, _ = client.communicate(timeout=30)
    rows = [line.split() for line in out.strip().splitlines()]
    assert [r[1:5] for r in rows] == [['f', '4', '2', 'mono8']] * 2


def test_echo_gets_independent_client_images(ros_domain):
    echo = _echo('/ind2', '--count', '2', '--timeout', '30', '--qos', 'default')
    time.sleep(1.0)
    client = subprocess.Popen([PY, '-c', CLIENT, 'pub', str(ros_domain), '/ind2', '2'],
                              env=_env())
    out, err = echo.communicate(timeout=40)
    client.wait(30)
    assert echo.returncode == 0, err
    assert out.splitlines() == [f'stamp={100 + i}.000000005 frame_id=ind 3x2 mono8 step=3 '
                                f'bytes=6' for i in range(2)]


def test_echo_detections(ros_domain):
    echo = _echo('/det', '--type', 'vision_msgs/msg/Detection2DArray', '--count', '1',
                 '--timeout', '30')
    t = DdsTransport('det_pub', [])
    try:
        pub = t.create_publisher(msgs.Detection2DArray, '/det', QOS_DEFAULT)
        assert pub.wait_for_subscribers(1, 20)
        pub.publish(detections_to_msg(Detections([[10, 20, 30, 60]], [0.75], [2]),
                                      msgs.Header(stamp=msgs.Time(sec=3, nanosec=4),
                                                  frame_id='cam')))
        out, err = echo.communicate(timeout=40)
    finally:
        t.close()
    assert echo.returncode == 0, err
    assert out.splitlines() == ['stamp=3.000000004 frame_id=cam detections=1',
                                '  class=2 score=0.750 cx=20.0 cy=40.0 w=20.0 h=40.0']


def test_publish_says_when_nobody_listened(ros_domain):
    """Nobody on the topic: still exit 0 (a publisher need not have readers), but one warning
    names the topic instead of a plain 'published N'; with a reader, the plain line."""
    alone = _publish('sim:32x24', '--topic', '/nobody_here', '--count', '3',
                     '--wait-subscribers', '0.5')
    assert alone.returncode == 0 and 'Traceback' not in alone.stderr, alone.stderr
    warned = [ln for ln in alone.stderr.splitlines() if 'no subscriber matched' in ln]
    assert len(warned) == 1 and '/nobody_here' in warned[0], alone.stderr
    echo = _echo('/heard', '--count', '1', '--timeout', '30')
    heard = _publish('sim:32x24', '--topic', '/heard', '--count', '4', '--rate', '10',
                     '--wait-subscribers', '15')
    echo.communicate(timeout=40)
    assert heard.returncode == 0 and 'no subscriber matched' not in heard.stderr, heard.stderr
    assert 'published 4 message(s) on /heard' in heard.stderr + heard.stdout


def test_echo_timeout_without_publisher(ros_domain):
    out = subprocess.run(CLI + ['echo', '/nothing', '--timeout', '1'], capture_output=True,
                         text=True, env=_env(), timeout=30)
    assert out.returncode == 1 and 'received 0' in out.stderr


def test_bad_arguments_one_line(ros_domain):
    r = _publish('sim:axb', '--topic', '/x', '--wait-subscribers', '0')
    assert r.returncode == 1 and 'sim:WIDTHxHEIGHT' in r.stderr
    r = _publish('sim:4x4', '--ros-args', '--bogus')
    assert r.returncode == 2 and "'--bogus'" in r.stderr
    r = subprocess.run(CLI + ['echo', '/x', '--type', 'Nope', '--timeout', '1'],
                       capture_output=True, text=True, env=_env())
    assert r.returncode == 1 and "'Nope' is not supported" in r.stderr


@pytest.mark.parametrize('encoding,code', [('rgb8', 'COLOR_BGR2RGB'), ('mono8', 'COLOR_BGR2GRAY'),
                                           ('bgra8', 'COLOR_BGR2BGRA'),
                                           ('yuv422', 'COLOR_BGR2YUV_UYVY')])
def test_publish_encodings_match_opencv(encoding, code):
    import cv2
    from video_perception.sources import sim_frames
    from video_perception.tools.publish import encode_frame
    frame = next(sim_frames(16, 8))
    msg = encode_frame(frame, encoding, None, msgs.Header())
    want = cv2.cvtColor(frame, getattr(cv2, code))
    assert (msg.width, msg.height, msg.encoding) == (16, 8, encoding)
    assert msg.step * msg.height == len(msg.data) == want.nbytes
    assert bytes(msg.data) == want.tobytes()


def test_publish_compressed_decodes_with_opencv():
    import cv2
    from video_perception.sources import sim_frames
    from video_perception.tools.publish import encode_frame
    frame = next(sim_frames(16, 8))
    msg = encode_frame(frame, 'bgr8', 'png', msgs.Header())
    assert msg.format == 'png'
    back = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_COLOR)
    assert (back == frame).all()


@pytest.mark.parametrize('kind', ['folder', 'video'])
def test_publish_folder_and_video(ros_domain, tmp_path, kind):
    import cv2
    from video_perception.sources import sim_frames
    frames = [f for f, _ in zip(sim_frames(32, 24), range(3))]
    if kind == 'folder':
        source = tmp_path / 'imgs'
        source.mkdir()
        for i, f in enumerate(frames):
            cv2.imwrite(str(source / f'{i:03d}.png'), f)
    else:
        source = tmp_path / 'clip.avi'
        writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*'MJPG'), 10, (32, 24))
        for f in frames:
            writer.write(f)
        writer.release()
    echo = _echo('/files', '--count', '3', '--timeout', '30', '--qos', 'default')
    pub = _publish(str(source), '--topic', '/files', '--rate', '30', '--wait-subscribers', '15')
    assert pub.returncode == 0, pub.stderr
    out, err = echo.communicate(timeout=40)
    assert echo.returncode == 0, err
    assert [line.split(' ', 2)[2] for line in out.splitlines()] == [
        '32x24 bgr8 step=96 bytes=2304'] * 3


def test_publish_argoverse_frames_with_file_stamps(ros_domain, shared_data, tmp_path):
    """Real 1920x1200 frames; --stamps source takes the ns timestamps from the file names."""
    src = sorted((shared_data / 'argoverse_hd_sample' / 'frames').glob('*.jpg'))[:2]
    folder = tmp_path / 'frames'
    folder.mkdir()
    for f in src:
        (folder / f.name).symlink_to(f)
    echo = _echo('/argo', '--count', '2', '--timeout', '40', '--qos', 'default')  # reliable
    pub = _publish(str(folder), '--topic', '/argo', '--stamps', 'source', '--rate', '10',
                   '--wait-subscribers', '20')
    assert pub.returncode == 0, pub.stderr
    out, err = echo.communicate(timeout=60)
    assert echo.returncode == 0, err
    want = [int(f.stem.rsplit('_', 1)[1]) for f in src]
    assert [line.split()[0] for line in out.splitlines()] == [
        f'stamp={ns // 10**9}.{ns % 10**9:09d}' for ns in want]
    assert all('1920x1200 bgr8 step=5760 bytes=6912000' in line for line in out.splitlines())


def _args(**kw):
    from video_perception.tools.publish import build_parser
    return build_parser().parse_args(['x'] + [a for k, v in kw.items()
                                              for a in (f'--{k.replace("_", "-")}', v)])


def test_bag_messages_pass_through_or_reencode(tmp_path):
    """A CompressedImage of a bag goes out byte for byte unless a re-encode is asked for."""
    import cv2
    from rosbags.rosbag2 import Reader
    from video_perception import bagio
    from video_perception.sources import open_source, sim_frames
    from video_perception.tools.publish import _message
    frame = next(sim_frames(16, 8))
    jpeg = cv2.imencode('.jpg', frame)[1].tobytes()
    with bagio.write_bag(tmp_path / 'b', storage='mcap') as bag:
        bag.write('/odd', msgs.Header(frame_id='not an image'), 1)
        bag.write('/c', msgs.CompressedImage(header=msgs.Header(
            stamp=msgs.Time(sec=4, nanosec=5), frame_id='cam'), format='jpeg', data=jpeg), 2)
    skipped = []
    source = open_source(tmp_path / 'b', simulated=True, on_skip=skipped.append)
    first = next(source.frames())
    assert skipped == ['skipping /odd (std_msgs/msg/Header): not an image topic']
    msg = _message(first, source, _args(stamps='source'), now_ns=99)
    with Reader(tmp_path / 'b') as reader:
        raw = [r for c, _, r in reader.messages() if c.topic == '/c'][0]
    want = bagio.typestore().deserialize_cdr(raw, 'sensor_msgs/msg/CompressedImage')
    assert isinstance(msg, msgs.CompressedImage) and msg.format == want.format == 'jpeg'
    assert bytes(msg.data) == want.data.tobytes() == jpeg
    assert (msg.header.stamp.to_ns(), msg.header.frame_id) == (4_000_000_005, 'cam')
    now = _message(next(source.frames()), source, _args(frame_id='f'), now_ns=99)
    assert (now.header.stamp.to_ns(), now.header.frame_id) == (99, 'f')
    mono = _message(next(source.frames()), source, _args(encoding='mono8'), now_ns=1)
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert (mono.encoding, mono.header.frame_id) == ('mono8', 'cam')
    assert bytes(mono.data) == cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY).tobytes()


def test_unstamped_sources_fall_back_to_now(tmp_path):
    import cv2
    from video_perception.sources import open_source, sim_frames
    from video_perception.tools.publish import _message
    cv2.imwrite(str(tmp_path / 'frame7.png'), next(sim_frames(8, 4)))
    source = open_source(tmp_path)
    msg = _message(next(source.frames()), source, _args(stamps='source'), now_ns=123)
    assert (msg.header.stamp.to_ns(), msg.header.frame_id, msg.encoding) == \
        (123, 'camera', 'bgr8')
