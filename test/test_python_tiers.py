"""The node on Python 3.10 (Humble's interpreter) and 3.12, on DDS and on rclpy, end to end.

``make pytiers`` (part of ``make test``) builds ``.venv-py3.10`` and ``.venv-py3.12``
(scripts/make_python_tier.sh): requirements.txt with "numpy<2", the Jazzy wheels of
requirements-ros.txt for that interpreter, vision_msgs built for it. Here the node of this
checkout runs in that venv on each transport (``VIDEO_PERCEPTION_TRANSPORT=dds``: Cyclone DDS
with our CDR; ``rclpy``: Fast DDS) and must publish what the bundle computes on the synthetic
frame and the frame's ground-truth cars (test/node_check.py). A tier whose interpreter or venv
is missing is skipped with the reason; with CI=true that skip is a failure (test/conftest.py).
"""
import glob
import os
import shutil
import subprocess

import pytest

import node_check
import ros_helpers

# one xdist group for the colcon and Python-tier tests (each heavy), beside the ros_tier group
pytestmark = [pytest.mark.ros_tier, pytest.mark.xdist_group('workspace_tiers')]
REPO = node_check.REPO
TIERS = ('3.10', '3.12')


def tier_python(version: str) -> str:
    """The tier venv's interpreter; skips naming what is missing and how to make it."""
    exe = REPO / f'.venv-py{version}' / 'bin' / 'python'
    if (exe.parent.parent / '.tier-installed').is_file():
        return str(exe)
    root = os.environ.get('PYENV_ROOT', os.path.expanduser('~/.pyenv'))
    found = shutil.which(f'python{version}') or glob.glob(
        f'{root}/versions/{version}.*/bin/python{version}')
    if found:
        pytest.skip(f'the Python {version} tier is not built: run `make pytiers`')
    pytest.skip(f'no python{version} on this machine (PATH, pyenv): the {version} tier cannot '
                f'run (pyenv install {version}, then `make pytiers`)')


@pytest.fixture(scope='module')
def frame_and_reference():
    ros_helpers.need_ros()
    frame, cars = node_check.synth_frame()
    return frame, cars, node_check.reference(frame)


@pytest.mark.parametrize('transport', ['dds', 'rclpy'])
@pytest.mark.parametrize('version', TIERS)
def test_node_on_python(version, transport, tmp_path, monkeypatch, frame_and_reference):
    python = tier_python(version)
    frame, cars, ref = frame_and_reference
    env = ros_helpers.loopback_ros_env(tmp_path, monkeypatch)
    env.update(PYTHONPATH=str(REPO), VIDEO_PERCEPTION_TRANSPORT=transport)
    # what the Jazzy wheels' bootstrap set up for this (3.11) process: the tier's own finds its
    # libraries (LD_LIBRARY_PATH into .venv, and the flag that skips the bootstrap, would not)
    for key in ('LD_LIBRARY_PATH', '_ROS_WHEELS_BOOTSTRAP_COMPLETE', 'AMENT_PREFIX_PATH',
                'VIRTUAL_ENV', 'PYTHONHOME'):
        env.pop(key, None)
    probe = subprocess.run(
        [python, '-c', 'import sys, numpy, rclpy, vision_msgs.msg; '
         'print("%d.%d" % sys.version_info[:2], numpy.__version__)'],
        env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr[-2000:]
    got_version, numpy_version = probe.stdout.split()
    assert got_version == version and int(numpy_version.split('.')[0]) == 1, probe.stdout
    got, rc, log = node_check.serve(
        [python, '-m', 'streamnet_ros.streamnet_node', '--ros-args', '-p',
         f'model_path:={node_check.MODEL}', '-p', 'backend:=onnxruntime', '-p', 'threads:=1',
         '-r', 'image:=/cam'], env, tmp_path, tmp_path / 'node.err', frame)
    assert got, f'no detections from the node on Python {version} / {transport} (rc {rc}): ' \
                f'{log[-3000:]}'
    assert rc == 0, log[-2000:]
    node_check.check(got[-1], ref, cars)
