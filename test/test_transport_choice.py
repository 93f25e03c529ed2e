"""How make_transport chooses (video_perception/transport/__init__.py): the environment
variable forces; else rclpy where rclpy and vision_msgs import; else DDS, with one line when
only vision_msgs is missing."""
import importlib.util

import pytest

from video_perception import transport


def _without(monkeypatch, *missing):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec',
                        lambda name, *a: None if name in missing else real(name, *a))


@pytest.mark.parametrize('forced', ['dds', 'rclpy', ' DDS '])
def test_env_forces(monkeypatch, forced):
    monkeypatch.setenv(transport.ENV, forced)
    if forced.strip() == 'rclpy' and not transport.rclpy_available():
        pytest.skip('rclpy not importable')
    assert transport.choose_transport() == forced.strip().lower()


def test_no_rclpy_is_dds(monkeypatch, capsys):
    monkeypatch.delenv(transport.ENV, raising=False)
    _without(monkeypatch, 'rclpy')
    assert transport.choose_transport() == 'dds'
    assert capsys.readouterr().err == ''
    monkeypatch.setenv(transport.ENV, 'rclpy')
    with pytest.raises(ValueError, match='rclpy is not importable'):
        transport.choose_transport()


def test_rclpy_without_vision_msgs_is_dds_with_one_line(monkeypatch, capsys):
    monkeypatch.delenv(transport.ENV, raising=False)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: (
        object() if name == 'rclpy' else None if name == 'vision_msgs' else real(name, *a)))
    assert transport.choose_transport() == 'dds'
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and 'ros-$ROS_DISTRO-vision-msgs' in err


@pytest.mark.ros_tier
def test_ros_environment_defaults_to_rclpy(monkeypatch, ros_env):
    monkeypatch.delenv(transport.ENV, raising=False)
    assert transport.choose_transport() == 'rclpy'
