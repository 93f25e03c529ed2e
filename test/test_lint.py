"""flake8 over the whole tree, as ``ament_flake8`` does in a colcon test run (setup.cfg has the
configuration): a style slip fails here instead of in a ROS build farm."""
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.linter
def test_flake8_clean():
    dirs = ['video_perception', 'training', 'streamnet_ros', 'v2i_ros', 'launch', 'scripts',
            'test', 'setup.py']
    res = subprocess.run([sys.executable, '-m', 'flake8', *dirs], cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, f'flake8 found:\n{res.stdout}{res.stderr}'
