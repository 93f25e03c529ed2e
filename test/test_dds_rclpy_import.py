"""The rclpy adapter imports without ROS, and make_transport picks and validates transports."""
import importlib
import subprocess
import sys

import pytest

from video_perception import msgs
from video_perception.transport import make_transport, rclpy_available


def test_rclpy_transport_imports_without_rclpy():
    code = ('import sys; import video_perception.transport.rclpy_transport as m; '
            "assert 'rclpy' not in sys.modules; print(m.RclpyTransport.__name__)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'RclpyTransport'


def test_transport_choice_env(monkeypatch, ros_domain):
    monkeypatch.setenv('VIDEO_PERCEPTION_TRANSPORT', 'carrier-pigeon')
    with pytest.raises(ValueError, match="expected 'dds' or 'rclpy'"):
        make_transport('n', [])
    if not rclpy_available():
        monkeypatch.setenv('VIDEO_PERCEPTION_TRANSPORT', 'rclpy')
        with pytest.raises(ValueError, match='rclpy is not importable'):
            make_transport('n', [])
    monkeypatch.setenv('VIDEO_PERCEPTION_TRANSPORT', 'dds')
    t = make_transport('n', ['--ros-args', '-r', '__ns:=/robot'])
    try:
        assert type(t).__name__ == 'DdsTransport' and t.namespace == '/robot'
        assert t.resolve('~/x') == '/robot/n/x'
    finally:
        t.close()


@pytest.mark.ros
def test_round_trip_through_rclpy_messages():
    pytest.importorskip('rclpy', reason='rclpy needs a ROS 2 installation')
    conv = importlib.import_module('video_perception.transport.rclpy_transport')
    img = msgs.Image(height=1, width=2, encoding='mono8', step=2, data=b'\x01\x02')
    assert conv.from_ros(conv.to_ros(img), msgs.Image) == img
    diag = msgs.DiagnosticArray(status=[msgs.DiagnosticStatus(level=2, name='x')])
    assert conv.from_ros(conv.to_ros(diag), msgs.DiagnosticArray) == diag
