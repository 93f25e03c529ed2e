"""``colcon build`` of the package, as a ROS user builds it, and its installed node end to end.

The package (this checkout, symlinked into ``src/`` of a temporary workspace) is built with the
colcon that ``make ros`` installs (``requirements-colcon.txt``: colcon-core, colcon-ros and the
extensions ``--packages-select`` and ``setup.bash`` need) on the Jazzy wheels. The install
layout is checked against the source tree: every launch file, config file and shipped model
file is installed byte for byte where ROS tools look (``share/video_perception/...``), the nodes
in ``lib/video_perception`` (where ``ros2 run`` looks), and the ament index resource. Then the
installed ``streamnet_node`` runs through ``install/setup.bash`` with no PYTHONPATH of ours
(its code and its bundle come from the install: ``model_path:=streamnet_tiny_synth`` is found
in share/) on rclpy, and must publish the synthetic driving frame's cars: the reference is the
frame's own ground-truth boxes (``training.data.synth_driving``), and the same bundle run in
this process on the same frame.
"""
import filecmp
import os
import pathlib
import subprocess
import sys
import time

import pytest

import node_check
import ros_helpers

# one xdist group for the colcon and Python-tier tests (each heavy), beside the ros_tier group
pytestmark = [pytest.mark.ros_tier, pytest.mark.xdist_group('workspace_tiers')]

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
PKG = 'video_perception'
MODEL = node_check.MODEL


def need_colcon():
    ros_helpers.need_ros()
    if not (BIN / 'colcon').exists():
        pytest.skip(f'colcon is not installed beside {sys.executable}: run `make ros` '
                    '(requirements-colcon.txt pins it)')


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A colcon workspace holding this checkout, built once (about 25 s on 2 cores)."""
    need_colcon()
    ws = tmp_path_factory.mktemp('colcon_ws')
    (ws / 'src').mkdir()
    os.symlink(REPO, ws / 'src' / PKG)     # colcon stops at the package: it never crawls .venv
    env = dict(os.environ, COLCON_HOME=str(ws / 'colcon_home'),
               PATH=f'{BIN}{os.pathsep}{os.environ.get("PATH", "")}')
    env.pop('PYTHONPATH', None)
    t0 = time.monotonic()
    res = subprocess.run([str(BIN / 'colcon'), 'build', '--packages-select', PKG,
                          '--base-paths', 'src', '--event-handlers', 'console_direct-'],
                         cwd=ws, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, f'colcon build failed: {res.stdout[-2000:]} {res.stderr[-2000:]}'
    print(f'colcon build: {time.monotonic() - t0:.1f} s')
    return ws


def _files(folder: pathlib.Path):
    return sorted(p.relative_to(folder) for p in folder.rglob('*') if p.is_file())


def test_install_layout(workspace):
    prefix = workspace / 'install' / PKG
    share = prefix / 'share' / PKG
    for node in ('streamnet_node', 'v2i_node'):
        exe = prefix / 'lib' / PKG / node
        assert exe.is_file() and os.access(exe, os.X_OK), exe
        assert exe.read_text().startswith(f'#!{sys.executable}')      # the tier's interpreter
    assert (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / PKG).is_file()
    assert filecmp.cmp(REPO / 'package.xml', share / 'package.xml', shallow=False)
    launch = sorted(p.name for p in (REPO / 'launch').glob('*.launch.py'))
    assert launch and sorted(p.name for p in (share / 'launch').iterdir()) == launch
    config = sorted(p.name for p in (REPO / 'config').iterdir()
                    if p.suffix in ('.yaml', '.xml', '.rviz'))
    assert 'video_perception.rviz' in config and 'streamnet.yaml' in config
    assert sorted(p.name for p in (share / 'config').iterdir()) == config
    for name in launch:
        assert filecmp.cmp(REPO / 'launch' / name, share / 'launch' / name, shallow=False)
    models = [d.name for d in (REPO / 'models').iterdir() if (d / 'model.json').is_file()]
    assert MODEL in models
    for name in models:
        src, dst = REPO / 'models' / name, share / 'models' / name
        assert _files(dst) == _files(src), name
        assert all(filecmp.cmp(src / f, dst / f, shallow=False) for f in _files(src)), name
    for setup in ('setup.bash', 'setup.sh', 'local_setup.bash'):
        assert (workspace / 'install' / setup).is_file(), setup


def _sourced(workspace, command):
    """``command`` in bash after ``source install/setup.bash``, run from the workspace."""
    return ['bash', '-c', f'source {workspace / "install" / "setup.bash"} && {command}']


def test_installed_node_serves_the_shipped_bundle(workspace, tmp_path, monkeypatch):
    env = ros_helpers.loopback_ros_env(tmp_path, monkeypatch)
    env.pop('PYTHONPATH', None)
    prefix = workspace / 'install' / PKG
    # the installed code and the installed bundle, not this checkout's
    code = (f'import {PKG}; from {PKG}.bundle import load_bundle; print({PKG}.__file__); '
            f'print(load_bundle("{MODEL}").root)')
    probe = subprocess.run(_sourced(workspace, f"{sys.executable} -c '{code}'"), cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr[-2000:]
    code_file, bundle_root = probe.stdout.split()
    assert code_file.startswith(str(prefix / 'lib')), code_file
    assert bundle_root == str(prefix / 'share' / PKG / 'models' / MODEL)

    frame, cars = node_check.synth_frame()
    ref = node_check.reference(frame)
    exe = prefix / 'lib' / PKG / 'streamnet_node'
    got, rc, log = node_check.serve(
        _sourced(workspace, f'exec {exe} --ros-args -p model_path:={MODEL} '
                 '-p backend:=onnxruntime -p threads:=1 -r image:=/cam'),
        env, tmp_path, tmp_path / 'node.err', frame)
    assert got, f'no detections from the installed node (rc {rc}): {log[-3000:]}'
    assert rc == 0 and 'configured: streamnet bundle' in log, log[-2000:]
    node_check.check(got[-1], ref, cars)
