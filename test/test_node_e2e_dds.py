"""The nodes end to end over real DDS on loopback, each piece in its own process.

``video-perception publish`` plays a folder of frames (a white square moving at constant velocity
on black), ``streamnet_node`` / ``v2i_node`` run a known-answer tiny bundle
(``test/tiny_bundles.py``) and an in-test DDS subscriber collects the outputs. The reference is
computed here from the frames themselves: for V2I, the square's box in original pixels; for
StreamNet, the tiny model's linear forecast 2 c(t) - c(t') where t' is the previous frame the node
processed (the previous output's stamp), which equals the square's box in frame t+1 when no frame
was dropped.
"""
import contextlib
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

import tiny_bundles
from video_perception import msgs

pytestmark = [pytest.mark.xdist_group('h3_dds_nodes')]

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
W0, H0 = 192, 128                 # original frames; letterboxed to 96 x 64 (scale 0.5, exact)
SIDE_X, SIDE_Y = 30, 24


def square_at(i):
    """Top-left corner of the square in frame i (moves 6 px right, 2 px down per frame)."""
    return 20 + 6 * i, 30 + 2 * i


def write_frames(folder, n, size=(W0, H0)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        x, y = square_at(i)
        img[y:y + SIDE_Y, x:x + SIDE_X] = 255
        cv2.imwrite(str(folder / f'{i:04d}.png'), img)
    return folder


def square_box(frame_bgr):
    """The lit pixels' box (x1, y1, x2, y2) in pixel-edge coordinates, by plain numpy."""
    ys, xs = np.nonzero(frame_bgr.max(axis=2) > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


def stamp_ns(stamp):
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def node_env(extra=None):
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([str(REPO / 'test'), env.get('PYTHONPATH', '')])
    env['VIDEO_PERCEPTION_TRANSPORT'] = 'dds'
    env['OMP_NUM_THREADS'] = '1'
    env.update(extra or {})
    return env


class Listener:
    """An in-test DDS participant collecting inputs, detections, labels and diagnostics."""

    def __init__(self, ns='', compressed=False):
        from video_perception.transport.base import QOS_DEFAULT, QOS_LATCHED, QOS_SENSOR_DATA
        from video_perception.transport.dds_transport import DdsTransport
        self.t = DdsTransport('e2e_listener', [])
        self.inputs, self.dets, self.labels, self.diags, self.images = {}, [], [], [], []
        self.lock = threading.Lock()
        self.t.create_subscription(msgs.CompressedImage if compressed else msgs.Image, '/cam',
                                   self._on_image, QOS_SENSOR_DATA)
        self.t.create_subscription(msgs.Image, f'{ns}/detections/image', self._on(self.images),
                                   QOS_SENSOR_DATA)
        self.t.create_subscription(msgs.Detection2DArray, f'{ns}/detections',
                                   self._on(self.dets), QOS_DEFAULT)
        self.t.create_subscription(msgs.LabelInfo, f'{ns}/detections/labels',
                                   self._on(self.labels), QOS_LATCHED)
        self.t.create_subscription(msgs.DiagnosticArray, '/diagnostics', self._on(self.diags),
                                   QOS_DEFAULT)

    def _on(self, sink):
        def callback(msg):
            with self.lock:
                sink.append((time.monotonic(), msg))
        return callback

    def _on_image(self, msg):
        if isinstance(msg, msgs.CompressedImage):
            frame = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        elif msg.encoding != 'bgr8' or len(msg.data) != msg.height * msg.width * 3:
            return                      # the bad-input test's deliberately broken frames
        else:
            frame = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
        with self.lock:
            self.inputs[stamp_ns(msg.header.stamp)] = square_box(frame)

    def wait(self, what, count, timeout, proc=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(getattr(self, what)) >= count:
                    return True
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    def wait_ready(self, proc, timeout=60):
        """Until the node's LabelInfo (published once configured) arrives; else its stderr."""
        if not self.wait('labels', 1, timeout, proc):
            rc, err = stop_node(proc)
            raise AssertionError(f'node not ready (rc {rc}): {err[-2000:]}')

    def last_diag_values(self):
        with self.lock:
            status = self.diags[-1][1].status[0]
        return {kv.key: kv.value for kv in status.values}

    def final_diag_values(self, count=1, timeout=5.0):
        """The newest /diagnostics values once ``count`` have arrived and one more 1 Hz
        message has had time to (so that it counts the frames just served)."""
        assert self.wait('diags', count, timeout), f'fewer than {count} /diagnostics'
        time.sleep(1.2)
        return self.last_diag_values()

    def close(self):
        self.t.close()


def settle(listener, stamp=None, timeout=20.0):
    """Until the node is idle again, so that no frame replaces another in its one-slot mailbox:
    a good frame's output has arrived (however loaded the machine), a bad one had 0.3 s."""
    deadline = time.monotonic() + (timeout if stamp is not None else 0.3)
    while time.monotonic() < deadline:
        with listener.lock:
            if stamp is not None and any(stamp_ns(m.header.stamp) == stamp
                                         for _, m in listener.dets):
                return
        time.sleep(0.02)


def handshake(listener, pub, make, stamp, tries=20) -> int:
    """Publish good frames ``make(stamp)`` (stamps before the test's) until the node answers
    one; returns how many of them the node processed (a lost one it never saw)."""
    for i in range(tries):
        pub.publish(make(stamp + i * 10**6))
        settle(listener, stamp + i * 10**6, timeout=1.0)
        with listener.lock:
            served = {stamp_ns(m.header.stamp) for _, m in listener.dets}
        if stamp + i * 10**6 in served:
            return sum(1 for k in range(i + 1) if stamp + k * 10**6 in served)
    raise AssertionError(f'no answer from the node to {tries} good frames')


def start_node(executable, bundle, *params, ns=None, env=None):
    """The installed node on ``bundle`` reading /cam, one thread, each of ``params`` a ``-p``;
    in ``env`` (default: node_env(), the DDS transport), its output piped."""
    cmd = [str(BIN / executable), '--ros-args', '-p', f'model_path:={bundle}',
           '-r', 'image:=/cam', '-p', 'threads:=1']
    for p in params:
        cmd += ['-p', p]
    if ns:
        cmd += ['-r', f'__ns:={ns}']
    return subprocess.Popen(cmd, env=node_env() if env is None else env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_node(proc, timeout=15):
    """SIGTERM (killed after ``timeout`` s): (exit code, stderr)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, err


class NodeRun:
    """A node process and its listener; ``rc`` and ``err`` (its stderr) once stopped."""

    def __init__(self, node, listener):
        self.node, self.listener = node, listener
        self.rc, self.err = None, ''


@contextlib.contextmanager
def serving(executable, bundle, *params, listener=None, ready_s=60):
    """``start_node(executable, bundle, *params)`` once ready (its LabelInfo reached
    ``listener``, a new Listener by default); on the way out it is stopped (SIGTERM) and the
    listener closed, and, unless the body failed, it must have exited 0 without a traceback."""
    listener = listener if listener is not None else Listener()
    run = NodeRun(start_node(executable, bundle, *params), listener)
    try:
        listener.wait_ready(run.node, timeout=ready_s)
        yield run
    finally:
        run.rc, run.err = stop_node(run.node)
        listener.close()
    assert run.rc == 0 and 'Traceback' not in run.err, run.err


def exits_by_itself(proc, timeout=60):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def publish(folder, rate, count=None, extra=()):
    cmd = [str(BIN / 'video-perception'), 'publish', str(folder), '--topic', '/cam',
           '--rate', str(rate), '--qos', 'sensor', '--wait-subscribers', '5'] + list(extra)
    if count:
        cmd += ['--count', str(count)]
    return subprocess.run(cmd, env=node_env(), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp('bundles')
    return {'streamnet': tiny_bundles.make_streamnet_bundle(str(root / 'sn')),
            'v2i': tiny_bundles.make_v2i_bundle(str(root / 'v2i'))}


def _boxes(msg):
    from video_perception.ros_convert import msg_to_boxes_xyxy
    return [np.array(r[:4]) for r in msg_to_boxes_xyxy(msg)]


def _run_pipeline(tmp_path, executable, bundle, params, n=12, rate=8.0, compressed=False):
    frames = write_frames(tmp_path / 'frames', n)
    with serving(executable, bundle, *params, listener=Listener(compressed=compressed)) as run:
        res = publish(frames, rate, extra=['--compressed', 'png'] if compressed else [])
        assert res.returncode == 0, res.stderr
        run.listener.wait('dets', n, 10)
        time.sleep(1.2)
    # the log names the topic as resolved (the -r image:=/cam remap), not the node's own 'image'
    assert ' on /cam, ' in run.err, run.err
    return run.listener, run.err


@pytest.mark.parametrize('backend,compressed', [('onnxruntime', False), ('torch', True)])
def test_v2i_node_boxes_in_original_pixels(tmp_path, ros_domain, bundles, backend, compressed):
    params = [f'backend:={backend}']
    if compressed:      # CompressedImage (png: lossless) in, and the annotated image out
        params += ['input_type:=compressed', 'publish_image:=true']
    listener, _ = _run_pipeline(tmp_path, 'v2i_node', bundles['v2i'], params,
                                compressed=compressed)
    assert listener.labels[0][1].class_map[0].class_name == 'lesion'
    dets = [m for _, m in listener.dets]
    assert len(dets) >= 10
    for msg in dets:
        s = stamp_ns(msg.header.stamp)
        assert s in listener.inputs, 'output stamp is not an input stamp'
        assert msg.header.frame_id == 'camera'
        (box,) = _boxes(msg)
        np.testing.assert_allclose(box, listener.inputs[s], atol=0.5)
        assert msg.detections[0].results[0].hypothesis.class_id == '0'
    if compressed:
        assert len(listener.images) >= 10
        for _, img in listener.images:
            s = stamp_ns(img.header.stamp)
            frame = np.frombuffer(bytes(img.data), np.uint8).reshape(img.height, img.width, 3)
            assert (img.width, img.height, img.encoding) == (W0, H0, 'bgr8')
            x1, y1, x2, y2 = listener.inputs[s].astype(int)
            # the box outline is drawn in colour where the input is pure black or white
            edge = frame[y2 + 1, x1:x2] if y2 + 1 < H0 else frame[y1 - 1, x1:x2]
            assert (edge.max(axis=1) != edge.min(axis=1)).mean() > 0.5


@pytest.mark.parametrize('backend,stamp_mode', [('onnxruntime', 'input'),
                                                ('torch', 'forecast')])
def test_streamnet_node_forecasts_next_frame(tmp_path, ros_domain, bundles, backend, stamp_mode):
    rate = 8.0
    listener, _ = _run_pipeline(tmp_path, 'streamnet_node', bundles['streamnet'],
                                [f'backend:={backend}', f'stamp_mode:={stamp_mode}',
                                 f'frame_rate_hint:={rate}'], rate=rate)
    period = int(round(1e9 / rate))
    inputs = listener.inputs
    ordered = sorted(inputs)
    dets = [m for _, m in listener.dets]
    assert len(dets) >= 10
    prev = None
    for msg in dets:
        out = stamp_ns(msg.header.stamp)
        s = out - period if stamp_mode == 'forecast' else out
        if stamp_mode == 'forecast':    # the period comes from the stamps: allow clock rounding
            s = min(ordered, key=lambda x: abs(x - s))
            assert abs(out - s - period) < 0.1 * period
        assert s in inputs
        (box,) = _boxes(msg)
        centre = (inputs[s][:2] + inputs[s][2:]) / 2
        prev_centre = centre if prev is None else (inputs[prev][:2] + inputs[prev][2:]) / 2
        expected = 2 * centre - prev_centre          # the tiny model's forecast
        np.testing.assert_allclose((box[:2] + box[2:]) / 2, expected, atol=0.5)
        np.testing.assert_allclose(box[2:] - box[:2], [40.0, 40.0], atol=0.5)
        if prev is not None and s == ordered[ordered.index(prev) + 1]:
            nxt = ordered.index(s) + 1         # no drop: the forecast is the next frame's box
            if nxt < len(ordered):
                nb = inputs[ordered[nxt]]
                np.testing.assert_allclose((box[:2] + box[2:]) / 2, (nb[:2] + nb[2:]) / 2,
                                           atol=0.5)
        prev = s


def test_missing_bundle_is_one_line_and_exit_2(tmp_path, ros_domain):
    for exe in ('streamnet_node', 'v2i_node'):
        rc, err = exits_by_itself(start_node(exe, str(tmp_path / 'nope')))
        assert rc == 2
        lines = [ln for ln in err.strip().splitlines() if ln.strip()]
        assert len(lines) == 1 and 'nope' in lines[0] and 'Traceback' not in err, err


def test_mistyped_parameter_is_named_with_the_closest_one(tmp_path, ros_domain):
    """ROS 2 drops an undeclared -p in silence; the node names it and the parameter meant."""
    rc, err = exits_by_itself(start_node('streamnet_node', str(tmp_path / 'nope'),
                                         'score_treshold:=0.9', 'zzz_unrelated:=1'))
    assert rc == 2 and 'Traceback' not in err
    lines = [ln for ln in err.splitlines() if 'score_treshold' in ln]
    assert len(lines) == 1 and "did you mean 'score_threshold'" in lines[0], err
    unrelated = [ln for ln in err.splitlines() if 'zzz_unrelated' in ln]
    assert len(unrelated) == 1 and 'did you mean' not in unrelated[0], err


def test_corrupt_bundle_and_wrong_family(tmp_path, ros_domain, bundles):
    bad = tiny_bundles.make_v2i_bundle(str(tmp_path / 'bad'))
    (tmp_path / 'bad' / 'model.json').write_text('{"format_version": 1, "family": ')
    rc, err = exits_by_itself(start_node('v2i_node', bad))
    assert rc == 2 and 'not valid JSON' in err and 'Traceback' not in err
    rc, err = exits_by_itself(start_node('v2i_node', bundles['streamnet']))
    assert rc == 2 and '"streamnet" model' in err and 'Traceback' not in err


def _image_msg(frame, stamp, encoding='bgr8'):
    h, w = frame.shape[:2]
    sec, nsec = divmod(stamp, 1_000_000_000)
    return msgs.Image(header=msgs.Header(stamp=msgs.Time(sec=sec, nanosec=nsec),
                                         frame_id='camera'),
                      height=h, width=w, encoding=encoding, step=w * 3,
                      data=frame.tobytes())


def _frame(i, size=(W0, H0)):
    img = np.zeros((size[1], size[0], 3), np.uint8)
    x, y = square_at(i)
    img[y:y + SIDE_Y, x:x + SIDE_X] = 255
    return img


def test_bad_images_and_run_time_parameters(tmp_path, ros_domain, bundles):
    """Malformed data, a wrong encoding and a new size mid-stream: counted, next frame served;
    a threshold set at run time applies to the next frame; read-only parameters stay."""
    from video_perception.transport.base import QOS_SENSOR_DATA
    from video_perception.transport.dds_transport import set_parameters_remote
    listener = Listener()
    pub = listener.t.create_publisher(msgs.Image, '/cam', QOS_SENSOR_DATA)
    sent = []

    def send(msg, expect_output):
        pub.publish(msg)
        sent.append((stamp_ns(msg.header.stamp), expect_output))
        # the node is idle again (its output is in, however loaded the machine): no drops
        settle(listener, stamp_ns(msg.header.stamp) if expect_output else None)
    with serving('v2i_node', bundles['v2i'], 'backend:=onnxruntime', listener=listener) as run:
        assert pub.wait_for_subscribers(1, 10)
        t0 = 1_700_000_000 * 10**9
        # best effort: the node's reader may match this writer after the writer matched it
        warmups = handshake(listener, pub, lambda ns: _image_msg(_frame(0), ns), t0 - 10**9)
        send(_image_msg(_frame(0), t0), True)
        short = _image_msg(_frame(1), t0 + 1)
        short.data = short.data[:100]
        send(short, False)                                        # malformed
        send(_image_msg(_frame(2), t0 + 2, encoding='bgr9'), False)   # unknown encoding
        send(_image_msg(_frame(3), t0 + 3), True)
        send(_image_msg(_frame(4, size=(240, 200)), t0 + 4), True)     # a new size
        set_parameters_remote('/v2i_node', {'score_threshold': 1.0})
        time.sleep(0.3)
        send(_image_msg(_frame(5), t0 + 5), True)                  # now below threshold
        set_parameters_remote('/v2i_node', {'score_threshold': 0.5, 'model_path': '/x'})
        time.sleep(0.3)
        send(_image_msg(_frame(6), t0 + 6), True)
        diag = listener.final_diag_values(2)
    err = run.err
    out = {stamp_ns(m.header.stamp): m for _, m in listener.dets if stamp_ns(m.header.stamp) >= t0}
    assert sorted(out) == [s for s, ok in sent if ok]
    assert len(out[t0 + 5].detections) == 0                  # score 1 - 1e-7 < threshold 1.0
    assert len(out[t0 + 6].detections) == 1 and len(out[t0 + 3].detections) == 1
    (box,) = _boxes(out[t0 + 4])                            # served at its own size
    np.testing.assert_allclose(box, square_box(_frame(4, size=(240, 200))), atol=3.0)
    assert diag['bad_frames'] == '2' and diag['size_changes'] == '2'   # 192 -> 240 -> 192
    assert diag['frames_processed'] == str(5 + warmups)
    bad_lines = [ln for ln in err.splitlines() if 'bad image' in ln]
    assert len(bad_lines) == 2, err
    assert any('bgr9' in ln for ln in bad_lines)
    assert "'model_path' is read-only" in err


@pytest.mark.slow
def test_publisher_twice_as_fast_memory_and_latency_flat(tmp_path, ros_domain, bundles):
    """Model 100 ms (simulated), camera 20 Hz, 300 frames: half dropped and reported, RSS flat,
    latency does not grow."""
    rss = []

    def sample_rss(node):
        with open(f'/proc/{node.pid}/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    rss.append(int(line.split()[1]))
    with serving('streamnet_node', bundles['streamnet'], 'backend:=onnxruntime',
                 'simulate_latency_ms:=100.0') as run:
        pub = subprocess.Popen([str(BIN / 'video-perception'), 'publish', 'sim:640x480',
                                '--topic', '/cam', '--rate', '20', '--count', '300', '--qos',
                                'sensor'], env=node_env(), stderr=subprocess.PIPE, text=True)
        diags = []
        while pub.poll() is None:
            time.sleep(1.0)
            sample_rss(run.node)
            if run.listener.diags:
                diags.append(run.listener.last_diag_values())
        assert pub.returncode == 0, pub.stderr.read()
        final = run.listener.final_diag_values()
    received, processed = int(final['frames_received']), int(final['frames_processed'])
    dropped = int(final['frames_dropped'])
    assert received >= 290 and processed + dropped == received
    assert 0.3 * received < dropped < 0.7 * received
    # memory: after the first third, RSS stays within 8 MiB
    settled = rss[len(rss) // 3:]
    assert max(settled) - min(settled) < 8 * 1024, rss
    # latency (message in -> message out) does not grow: p95 late vs early
    early = [float(d['latency_ms_p95']) for d in diags[3:6]]
    assert float(final['latency_ms_p95']) < max(early) + 30, (early, final)
    assert float(final['latency_ms_median']) < 250
