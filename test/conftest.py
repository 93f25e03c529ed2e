"""Shared test fixtures: where ../shared/data is, and per-test DDS domains."""
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / 'shared' / 'data'


@pytest.fixture(scope='session')
def shared_data() -> pathlib.Path:
    """../shared/data beside the checkout; tests that need it skip with the reason when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f'real data not found at {SHARED_DATA} (clone with ../shared beside the repo)')
    return SHARED_DATA


@pytest.fixture
def ros_domain(monkeypatch, worker_id='master') -> int:
    """A DDS domain id of this test's own, so parallel tests never see each other's topics."""
    import random
    domain = random.Random(os.getpid() ^ id(monkeypatch)).randrange(1, 200)
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    return domain
