"""DetectorNode's lifecycle and wiring on an in-memory transport (the rclpy adapter drives the
same callbacks on a LifecycleNode; the DDS transport runs configure + activate at start)."""
import time

import numpy as np
import pytest

import tiny_bundles
from video_perception import msgs
from video_perception.node_runner import DetectorNode, run_node
from video_perception.transport.base import (Durability, Publisher, Reliability, Subscription,
                                             Transport)
from video_perception.transport.params import ParameterStore

pytestmark = pytest.mark.xdist_group('h3_bundles')


class _Log:
    def __init__(self):
        self.lines = []

    def __getattr__(self, level):
        return lambda text: self.lines.append((level, text))


class _Pub(Publisher):
    def __init__(self, sink):
        self.sink = sink

    def publish(self, msg):
        self.sink.append(msg)

    def matched(self):
        return 1

    def close(self):
        pass


class _Sub(Subscription):
    def __init__(self, owner, topic):
        self.owner, self.topic = owner, topic

    def close(self):
        self.owner.subs.pop(self.topic, None)


class MemoryTransport(Transport):
    node_name, namespace = 'mem_node', '/'

    def __init__(self, overrides, lifecycle=False):
        self.store = ParameterStore(overrides)
        self.published, self.subs, self.qos = {}, {}, {}
        self._logger = _Log()
        self.spun = False
        if lifecycle:
            self.set_lifecycle_callbacks = lambda **cbs: setattr(self, 'lifecycle', cbs)
            self.transition = lambda name: self.lifecycle[name]()

    def create_subscription(self, msg_type, topic, callback, qos):
        self.subs[topic] = (msg_type, callback)
        self.qos[topic] = qos
        return _Sub(self, topic)

    def create_publisher(self, msg_type, topic, qos):
        assert topic not in self.published, f'second publisher on {topic}'
        self.published[topic] = []
        self.qos[topic] = qos
        return _Pub(self.published[topic])

    def declare_parameter(self, spec):
        return self.store.declare(spec)

    def get_parameter(self, name):
        return self.store.get(name)

    def set_parameter(self, name, value):
        self.store.set(name, value)

    def add_on_set_parameters_callback(self, callback):
        self.store.add_callback(callback)

    @property
    def logger(self):
        return self._logger

    def now_ns(self):
        return time.time_ns()

    def spin(self):
        self.spun = True

    def shutdown(self):
        pass


@pytest.fixture(scope='module')
def bundle(tmp_path_factory):
    return tiny_bundles.make_v2i_bundle(str(tmp_path_factory.mktemp('v2i')))


def _image(stamp_sec):
    frame = np.zeros((128, 192, 3), np.uint8)
    frame[30:54, 20:50] = 255
    return msgs.Image(header=msgs.Header(stamp=msgs.Time(sec=stamp_sec), frame_id='cam'),
                      height=128, width=192, encoding='bgr8', step=576, data=frame.tobytes())


def _wait(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.01)
    return pred()


def test_configure_activate_serve_deactivate_cleanup(bundle):
    t = MemoryTransport({'model_path': bundle, 'backend': 'onnxruntime',
                         'reliability': 'reliable', 'input_type': 'raw'})
    node = DetectorNode(t, 'v2i')
    node.configure()
    labels = t.published['detections/labels']
    assert labels[0].class_map[0].class_name == 'lesion'
    assert t.qos['detections/labels'].durability is Durability.TRANSIENT_LOCAL
    assert 'image' not in t.subs                      # not serving before activate
    node.activate()
    msg_type, callback = t.subs['image']
    assert msg_type is msgs.Image
    assert t.qos['image'].reliability is Reliability.RELIABLE and t.qos['image'].depth == 5
    callback(_image(7))
    assert _wait(lambda: t.published['detections'])
    out = t.published['detections'][0]
    assert out.header.stamp.sec == 7 and out.header.frame_id == 'cam'
    assert out.detections[0].bbox.center.position.x == pytest.approx(35.0, abs=0.5)
    t.set_parameter('publish_image', True)             # run time: the next frame
    callback(_image(8))
    assert _wait(lambda: t.published['detections/image'])
    assert t.published['detections/image'][0].header.stamp.sec == 8
    node.publish_diagnostics()
    values = {kv.key: kv.value for kv in t.published['/diagnostics'][0].status[0].values}
    assert values['frames_processed'] == '2' and values['backend'] == 'onnxruntime (cpu)'
    node.deactivate()
    assert 'image' not in t.subs
    node.cleanup()
    node.configure()                                   # again, after cleanup: no new publishers
    node.activate()
    node.deactivate()


@pytest.mark.parametrize('autostart', [False, True])
def test_run_node_hands_states_to_a_lifecycle_transport(bundle, monkeypatch, autostart):
    t = MemoryTransport({'model_path': bundle, 'backend': 'onnxruntime',
                         'autostart': autostart}, lifecycle=True)
    monkeypatch.setattr('video_perception.transport.make_transport', lambda name, argv: t)
    assert run_node('v2i', 'v2i_node', []) == 0
    assert set(t.lifecycle) == {'configure', 'activate', 'deactivate', 'cleanup', 'shutdown'}
    assert t.spun
    # autostart: configured (labels out) before spinning; without: left to the transitions
    assert ('detections/labels' in t.published) == autostart


def test_run_node_bad_bundle_exits_2_with_one_error_line(tmp_path, monkeypatch):
    t = MemoryTransport({'model_path': str(tmp_path / 'none')})
    monkeypatch.setattr('video_perception.transport.make_transport', lambda name, argv: t)
    assert run_node('streamnet', 'streamnet_node', []) == 2
    errors = [text for level, text in t.logger.lines if level == 'error']
    assert len(errors) == 1 and 'not a directory' in errors[0] and not t.spun
