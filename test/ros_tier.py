"""The real-ROS test tier: real rclpy (Fast DDS) in child processes, loopback only.

``make ros`` puts rclpy and vision_msgs into .venv. Each test gets an environment of its own
(``ros_env``): a random ``ROS_DOMAIN_ID``, ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``,
``ROS_HOME`` in the test's temporary folder and the shipped Fast DDS profile (a large
shared-memory segment and socket buffers, UDP bound to 127.0.0.1) so 1920x1200 images arrive.
Tests marked ``ros_tier`` use it; on CI (``CI=true``) their skips are failures (test/conftest.py).
"""
from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import random
import subprocess
import sys
import textwrap
from typing import Dict, Optional

REPO = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
FASTDDS_PROFILE = REPO / 'config' / 'fastdds_localhost.xml'
DISCOVERY_S = 10.0              # how long a child waits for its peers to be discovered


def missing() -> Optional[str]:
    """Why the tier cannot run here (None when rclpy and vision_msgs import)."""
    for module in ('rclpy', 'vision_msgs'):
        if importlib.util.find_spec(module) is None:
            return f'{module} is not importable: run `make ros` (or source a ROS 2 setup.bash)'
    return None


def make_env(tmp_path: pathlib.Path, transport: str = 'rclpy') -> Dict[str, str]:
    """A child-process environment on a domain of its own; ``transport`` for our nodes/tools."""
    env = dict(os.environ)
    home = tmp_path / 'ros_home'
    home.mkdir(parents=True, exist_ok=True)
    env.update({
        'ROS_DOMAIN_ID': str(random.SystemRandom().randrange(1, 101)),
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'ROS_HOME': str(home),
        'ROS_LOG_DIR': str(home / 'log'),
        'RMW_IMPLEMENTATION': 'rmw_fastrtps_cpp',
        'FASTRTPS_DEFAULT_PROFILES_FILE': str(FASTDDS_PROFILE),
        'FASTDDS_DEFAULT_PROFILES_FILE': str(FASTDDS_PROFILE),
        'RMW_FASTRTPS_PUBLICATION_MODE': 'ASYNCHRONOUS',     # the profile's paced writers
        'VIDEO_PERCEPTION_TRANSPORT': transport,
        'PYTHONPATH': os.pathsep.join([str(REPO / 'test'), env.get('PYTHONPATH', '')]),
        'OMP_NUM_THREADS': '1',
        'PYTHONUNBUFFERED': '1',
    })
    env.pop('ROS_LOCALHOST_ONLY', None)
    return env


def start_python(code: str, env: Dict[str, str]) -> subprocess.Popen:
    """``python -c code`` (dedented) as a child with pipes; text mode."""
    return subprocess.Popen([sys.executable, '-c', textwrap.dedent(code)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def last_json(proc: subprocess.Popen, timeout: float) -> dict:
    """Wait for ``proc`` and return the JSON object on its last stdout line."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f'child did not finish in {timeout} s: {err[-3000:]}') from None
    assert proc.returncode == 0, f'child failed (rc {proc.returncode}): {err[-3000:]}'
    lines = [line for line in out.splitlines() if line.startswith('{')]
    assert lines, f'child printed no result: {out[-2000:]} {err[-2000:]}'
    return json.loads(lines[-1])
