"""The DDS transport over real DDS on loopback: across processes, and against a plain cyclonedds
client whose IDL types are written here (not the package's), as a ROS 2 peer would define them."""
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from video_perception import msgs
from video_perception.transport import cyclone_config
from video_perception.transport.base import (ParameterSpec, QOS_DEFAULT, QOS_LATCHED,
                                             QOS_SENSOR_DATA)
from video_perception.transport.dds_transport import DdsTransport, dds_qos, set_parameters_remote

PY = sys.executable

# An independent ROS-2-shaped cyclonedds client: its own IDL classes named as rmw names them.
CLIENT = textwrap.dedent('''
    import sys, time
    from dataclasses import dataclass, field
    from cyclonedds.core import Policy, Qos
    from cyclonedds.domain import Domain, DomainParticipant
    from cyclonedds.idl import IdlStruct
    from cyclonedds.idl.annotations import final
    from cyclonedds.idl.types import int32, uint32, uint8, sequence
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic
    from cyclonedds.util import duration

    @dataclass
    @final
    class Time_(IdlStruct, typename='builtin_interfaces::msg::dds_::Time_'):
        sec: int32 = 0
        nanosec: uint32 = 0

    @dataclass
    @final
    class Header_(IdlStruct, typename='std_msgs::msg::dds_::Header_'):
        stamp: Time_ = field(default_factory=Time_)
        frame_id: str = ''

    @dataclass
    @final
    class Image_(IdlStruct, typename='sensor_msgs::msg::dds_::Image_'):
        header: Header_ = field(default_factory=Header_)
        height: uint32 = 0
        width: uint32 = 0
        encoding: str = ''
        is_bigendian: uint8 = 0
        step: uint32 = 0
        data: sequence[uint8] = field(default_factory=list)

    mode, domain, topic, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    xml = ('<CycloneDDS><Domain Id="any"><General><Interfaces><NetworkInterface '
           'address="127.0.0.1"/></Interfaces><AllowMulticast>false</AllowMulticast></General>'
           '<Discovery><ParticipantIndex>auto</ParticipantIndex><Peers><Peer address="localhost"/>'
           '</Peers></Discovery></Domain></CycloneDDS>')
    dom = Domain(domain, xml)
    dp = DomainParticipant(domain)
    tp = Topic(dp, 'rt' + topic, Image_)
    qos = Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepLast(10),
              Policy.DataRepresentation(use_cdrv0_representation=True))
    if mode == 'pub':
        w = DataWriter(dp, tp, qos)
        t0 = time.time()
        while not w.get_matched_subscriptions() and time.time() - t0 < 10:
            time.sleep(0.05)
        time.sleep(0.3)
        for i in range(n):
            w.write(Image_(header=Header_(stamp=Time_(sec=100 + i, nanosec=5), frame_id='ind'),
                           height=2, width=3, encoding='mono8', step=3,
                           data=[i, 1, 2, 3, 4, 5]))
            time.sleep(0.05)
        time.sleep(1.0)
    else:
        r = DataReader(dp, tp, qos)
        got, t0 = 0, time.time()
        while got < n and time.time() - t0 < 20:
            for s in r.take(N=10):
                print(s.header.stamp.sec, s.header.frame_id, s.width, s.height, s.encoding,
                      bytes(s.data).hex(), flush=True)
                got += 1
            time.sleep(0.02)
''')

PUBLISHER = textwrap.dedent('''
    import sys, time
    import numpy as np
    from video_perception import msgs
    from video_perception.transport.base import QOS_DEFAULT
    from video_perception.transport.dds_transport import DdsTransport
    n = int(sys.argv[1])
    t = DdsTransport('pub_proc', sys.argv[2:])
    pub = t.create_publisher(msgs.Image, 'frames', QOS_DEFAULT)
    assert pub.wait_for_subscribers(1, 15)
    time.sleep(0.2)
    for i in range(n):
        frame = np.full((120, 160, 3), i, np.uint8)
        frame[:, :, 1] = np.arange(160, dtype=np.uint8)
        pub.publish(msgs.Image(header=msgs.Header(stamp=msgs.Time(sec=i, nanosec=7),
                                                  frame_id='cam'),
                               height=120, width=160, encoding='bgr8', step=480,
                               data=frame.tobytes()))
        time.sleep(0.05)
    time.sleep(1.0)
    t.close()
''')


def _env():
    return dict(os.environ, PYTHONPATH=os.getcwd())


def _collect(transport, msg_type, topic, qos):
    got = []
    sub = transport.create_subscription(msg_type, topic, got.append, qos)
    return got, sub


def _wait(pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_cyclone_xml_follows_discovery_range(tmp_path):
    local = cyclone_config.cyclone_xml({'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'})
    assert '<AllowMulticast>false</AllowMulticast>' in local and 'localhost' in local
    assert cyclone_config.cyclone_xml({'ROS_LOCALHOST_ONLY': '1'}) == local
    off = cyclone_config.cyclone_xml({'ROS_AUTOMATIC_DISCOVERY_RANGE': 'OFF'}, pid=42)
    assert 'ros_discovery_off_42' in off and '<ParticipantIndex>none' in off
    peers = cyclone_config.cyclone_xml({'ROS_STATIC_PEERS': '10.0.0.5;host2'})
    assert '10.0.0.5' in peers and 'host2' in peers
    assert cyclone_config.cyclone_xml({'ROS_AUTOMATIC_DISCOVERY_RANGE': 'SYSTEM_DEFAULT'}) is None
    (tmp_path / 'x.xml').write_text('<CycloneDDS/>')
    uri = f'file://{tmp_path}/x.xml'
    assert cyclone_config.cyclone_xml(
        {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'SYSTEM_DEFAULT', 'CYCLONEDDS_URI': uri}) == uri
    with pytest.raises(ValueError, match='ROS_AUTOMATIC_DISCOVERY_RANGE'):
        cyclone_config.discovery_range({'ROS_AUTOMATIC_DISCOVERY_RANGE': 'everywhere'})
    with pytest.raises(ValueError, match='ROS_DOMAIN_ID'):
        cyclone_config.domain_id({'ROS_DOMAIN_ID': '999'})


def test_qos_presets_map_like_rmw():
    from cyclonedds.core import Policy
    sensor = dds_qos(QOS_SENSOR_DATA, writer=False)
    assert Policy.Reliability.BestEffort in sensor and Policy.History.KeepLast(5) in sensor
    latched = dds_qos(QOS_LATCHED, writer=True)
    assert Policy.Durability.TransientLocal in latched
    assert Policy.DataRepresentation(use_cdrv0_representation=True) in latched


def test_images_across_processes(ros_domain):
    """Another process publishes 5 frames; we receive all of them pixel for pixel."""
    t = DdsTransport('sub_node', ['--ros-args', '-r', 'frames:=/cam/frames'])
    try:
        got, _ = _collect(t, msgs.Image, 'frames', QOS_DEFAULT)
        proc = subprocess.Popen([PY, '-c', PUBLISHER, '5', '--ros-args', '-r',
                                 '__ns:=/cam'], env=_env())
        assert _wait(lambda: len(got) >= 5, 30), f'received {len(got)} of 5'
        assert proc.wait(30) == 0
        for i, msg in enumerate(got):
            frame = np.frombuffer(msg.data, np.uint8).reshape(120, 160, 3)
            assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (i, 7)
            assert (frame[:, :, 0] == i).all() and (frame[0, :, 1] == np.arange(160)).all()
    finally:
        t.close()


def test_independent_client_receives_our_images(ros_domain):
    t = DdsTransport('pub_node', [])
    try:
        pub = t.create_publisher(msgs.Image, '/ind_in', QOS_DEFAULT)
        client = subprocess.Popen([PY, '-c', CLIENT, 'sub', str(ros_domain), '/ind_in', '3'],
                                  stdout=subprocess.PIPE, text=True, env=_env())
        assert pub.wait_for_subscribers(1, 15)
        for i in range(3):
            pub.publish(msgs.Image(header=msgs.Header(stamp=msgs.Time(sec=10 + i),
                                                      frame_id='ours'),
                                   height=1, width=2, encoding='mono8', step=2,
                                   data=bytes([i, 200])))
        out, _ = client.communicate(timeout=30)
        assert out.split('\n')[:3] == [f'{10 + i} ours 2 1 mono8 {i:02x}c8' for i in range(3)]
    finally:
        t.close()


def test_we_receive_independent_client_images(ros_domain):
    t = DdsTransport('sub_node', [])
    try:
        got, _ = _collect(t, msgs.Image, '/ind_out', QOS_SENSOR_DATA)
        client = subprocess.Popen([PY, '-c', CLIENT, 'pub', str(ros_domain), '/ind_out', '3'],
                                  env=_env())
        assert _wait(lambda: len(got) >= 3, 30)
        client.wait(30)
        assert [(m.header.stamp.sec, m.header.frame_id, bytes(m.data)) for m in got[:3]] == [
            (100 + i, 'ind', bytes([i, 1, 2, 3, 4, 5])) for i in range(3)]
    finally:
        t.close()


def test_latched_label_info_reaches_late_subscriber(ros_domain):
    a = DdsTransport('labels', [])
    b = None
    try:
        pub = a.create_publisher(msgs.LabelInfo, 'label_info', QOS_LATCHED)
        pub.publish(msgs.LabelInfo(class_map=[msgs.VisionClass(class_id=0, class_name='lesion')]))
        b = DdsTransport('late', [])
        got, _ = _collect(b, msgs.LabelInfo, '/label_info', QOS_LATCHED)
        assert _wait(lambda: got, 15)
        assert got[0].class_map[0].class_name == 'lesion'
    finally:
        a.close()
        if b:
            b.close()


def test_parameters_overrides_and_remote_set(ros_domain, tmp_path):
    f = tmp_path / 'p.yaml'
    f.write_text('det:\n  ros__parameters:\n    score_threshold: 0.3\n')
    t = DdsTransport('det', ['--ros-args', '--params-file', str(f), '-p', 'max_det:=50'])
    try:
        assert t.declare_parameter(ParameterSpec('score_threshold', 0.5, 'x', 0.0, 1.0)) == 0.3
        assert t.declare_parameter(ParameterSpec('max_det', 100, 'x')) == 50
        seen = []
        t.add_on_set_parameters_callback(seen.append)
        set_parameters_remote('/det', {'score_threshold': 0.9})
        assert _wait(lambda: seen, 10)
        assert seen == [{'score_threshold': 0.9}] and t.get_parameter('score_threshold') == 0.9
    finally:
        t.close()


def test_malformed_payload_never_reaches_the_node(ros_domain, capfd):
    """Cyclone checks CDR against the type (normalisation) before delivery: a truncated Image is
    refused and the node keeps serving; a callback that raises is counted and logged."""
    from cyclonedds._clayer import ddspy_write
    t = DdsTransport('robust', [])
    try:
        got = []

        def callback(msg):
            got.append(msg)
            if len(got) == 1:
                raise RuntimeError('boom')
        t.create_subscription(msgs.Image, '/bad', callback, QOS_DEFAULT)
        pub = t.create_publisher(msgs.Image, '/bad', QOS_DEFAULT)
        assert pub.wait_for_subscribers(1, 10)
        assert ddspy_write(pub._writer._ref, b'\x00\x01\x00\x00\x07\x00\x00\x00') < 0
        for i in range(2):
            pub.publish(msgs.Image(height=1, width=1, encoding='mono8', step=1,
                                   data=bytes([i])))
        assert _wait(lambda: len(got) == 2, 10)
        assert [bytes(m.data) for m in got] == [b'\x00', b'\x01'] and t.errors == 1
    finally:
        t.close()
    err = capfd.readouterr().err
    assert '[ERROR]' in err and '[robust]' in err and 'RuntimeError: boom' in err


@pytest.mark.parametrize('sig', ['SIGINT', 'SIGTERM'])
def test_spin_stops_on_signal(ros_domain, sig):
    import signal
    code = ('from video_perception.transport.dds_transport import DdsTransport\n'
            "t = DdsTransport('spinner', ['--ros-args', '--log-level', 'info'])\n"
            "t.logger.info('ready')\n"
            't.spin()\n'
            "print('stopped', flush=True)\n")
    proc = subprocess.Popen([PY, '-c', code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())
    line = proc.stderr.readline()
    assert line.startswith('[INFO] [') and line.rstrip().endswith('[spinner]: ready'), line
    time.sleep(1.0)  # spin() installs its handlers just after 'ready'
    proc.send_signal(getattr(signal, sig))
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and out.strip() == 'stopped'


def test_graph_sees_ros_names_and_enclave(ros_domain):
    """What a ROS 2 peer discovers: enclave user data, rt/ topic, mangled type, XCDR1 QoS."""
    from cyclonedds.builtin import (BuiltinDataReader, BuiltinTopicDcpsParticipant,
                                    BuiltinTopicDcpsPublication)
    from cyclonedds.core import Policy
    from cyclonedds.domain import DomainParticipant
    t = DdsTransport('graph_node', ['--ros-args', '-r', '__ns:=/robot'])
    try:
        t.create_publisher(msgs.Detection2DArray, 'detections', QOS_DEFAULT)
        dp = DomainParticipant(ros_domain)
        parts = BuiltinDataReader(dp, BuiltinTopicDcpsParticipant)
        pubs = BuiltinDataReader(dp, BuiltinTopicDcpsPublication)
        seen_users, seen_pubs = [], []

        def found():
            seen_users.extend(p.qos[Policy.Userdata].data for p in parts.take(N=20)
                              if Policy.Userdata in p.qos)
            seen_pubs.extend(pubs.take(N=20))
            return b'enclave=/;' in seen_users and any(
                p.topic_name == 'rt/robot/detections' for p in seen_pubs)
        assert _wait(found, 15), (seen_users, [p.topic_name for p in seen_pubs])
        pub = next(p for p in seen_pubs if p.topic_name == 'rt/robot/detections')
        assert pub.type_name == 'vision_msgs::msg::dds_::Detection2DArray_'
        assert pub.qos[Policy.DataRepresentation] == Policy.DataRepresentation(
            use_cdrv0_representation=True)
        assert pub.qos[Policy.Reliability] == Policy.Reliability.Reliable(
            pub.qos[Policy.Reliability].max_blocking_time)
        dp.__del__()
    finally:
        t.close()


def test_images_across_processes_subnet_range(ros_domain, monkeypatch):
    """The default discovery range (SUBNET) also finds a peer on this host."""
    monkeypatch.delenv('ROS_AUTOMATIC_DISCOVERY_RANGE')
    code = PUBLISHER
    proc = subprocess.Popen([PY, '-c', code, '2'], env=_env())
    out = subprocess.run(
        [PY, '-m', 'video_perception.cli', 'echo', '/frames', '--count', '2', '--timeout', '30',
         '--qos', 'default'], capture_output=True, text=True, env=_env(), timeout=60)
    assert proc.wait(30) == 0
    assert out.returncode == 0, out.stderr
    assert [line.split()[0] for line in out.stdout.splitlines()] == [
        'stamp=0.000000007', 'stamp=1.000000007']
