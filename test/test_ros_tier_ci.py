"""On CI (CI=true) a skipped ros_tier test is a failure (test/conftest.py's report hook); off CI
it stays a skip. Checked by running pytest on a copy of the conftest and a test that skips."""
import os
import shutil
import subprocess
import sys

import pytest

import ros_tier

SKIPPING = '''
import pytest


@pytest.mark.ros_tier
def test_tier():
    pytest.skip('no rclpy here')


def test_other():
    pytest.skip('an ordinary skip stays a skip')
'''


@pytest.mark.parametrize('ci,expect', [('true', '1 failed, 1 skipped'), ('', '2 skipped')])
def test_ci_turns_ros_tier_skips_into_failures(tmp_path, ci, expect):
    shutil.copy(ros_tier.REPO / 'test' / 'conftest.py', tmp_path / 'conftest.py')
    (tmp_path / 'test_skipping.py').write_text(SKIPPING)
    res = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-n', '0', '-p',
                          'no:cacheprovider', '-c', '/dev/null', str(tmp_path)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env=dict(os.environ, CI=ci))
    assert expect in res.stdout, res.stdout[-2000:]
    if ci:
        assert 'ros_tier test skipped on CI' in res.stdout and 'no rclpy here' in res.stdout
