"""A user's CYCLONEDDS_URI merged with the ROS discovery settings: real publish -> echo processes
on loopback with configs that select ``lo`` by name (the case that made Cyclone refuse to start:
"lo: the same interface may not be selected twice"), and the project's own localhost file."""
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from video_perception.transport import cyclone_config

REPO = pathlib.Path(__file__).resolve().parents[1]
CLI = [sys.executable, '-m', 'video_perception.cli']
LO_BY_NAME = ('<CycloneDDS><Domain Id="any"><General><Interfaces>'
              '<NetworkInterface name="lo"/></Interfaces></General></Domain></CycloneDDS>')


def _interfaces(xml: str):
    root = ET.fromstring(xml)
    return [(e.get('name'), e.get('address')) for e in root.iter() if e.tag == 'NetworkInterface']


def test_user_interfaces_replace_ours_and_the_rest_stays():
    merged = cyclone_config.cyclone_xml({'ROS_LOCALHOST_ONLY': '1', 'CYCLONEDDS_URI': LO_BY_NAME})
    ours, user = merged.split(',', 1)
    assert user == LO_BY_NAME              # the user's text goes to Cyclone unchanged, last
    assert _interfaces(ours) == []         # ours no longer selects 127.0.0.1 next to 'lo'
    assert '<AllowMulticast>false</AllowMulticast>' in ours and 'localhost' in ours
    # the project's own file sets interfaces, multicast and peers: all of ours go
    own = (REPO / 'config' / 'cyclonedds_localhost.xml').as_uri()
    ours = cyclone_config.cyclone_xml({'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
                                       'CYCLONEDDS_URI': own}).rsplit(',', 1)[0]
    assert _interfaces(ours) == [] and 'Peer' not in ours and 'AllowMulticast' not in ours
    assert '<FragmentSize>60000B</FragmentSize>' in ours   # not set by the user: kept
    # a config for another domain id does not apply to ours, so nothing of ours is dropped
    other = LO_BY_NAME.replace('Id="any"', 'Id="5"')
    merged = cyclone_config.cyclone_xml({'ROS_LOCALHOST_ONLY': '1', 'ROS_DOMAIN_ID': '7',
                                         'CYCLONEDDS_URI': other})
    assert _interfaces(merged.split(',', 1)[0]) == [(None, '127.0.0.1')]


@pytest.mark.parametrize('text, expected', [
    ('', 'cannot read'),                         # (file left out: a missing file)
    ('<CycloneDDS><Domain>', 'not well-formed XML'),
])
def test_bad_uri_is_one_value_error(tmp_path, text, expected):
    uri = f'file://{tmp_path}/cyclone.xml'
    if text:
        (tmp_path / 'cyclone.xml').write_text(text)
    with pytest.raises(ValueError, match=expected) as err:
        cyclone_config.cyclone_xml({'CYCLONEDDS_URI': uri})
    assert 'CYCLONEDDS_URI' in str(err.value) and '\n' not in str(err.value)


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(REPO), VIDEO_PERCEPTION_TRANSPORT='dds', **extra)
    env.pop('ROS_LOCALHOST_ONLY', None)
    return env


@pytest.mark.parametrize('uri, scope', [
    (LO_BY_NAME, {'ROS_LOCALHOST_ONLY': '1'}),
    ('file://' + str(REPO / 'config' / 'cyclonedds_localhost.xml'),
     {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST'}),
    ('file://' + str(REPO / 'config' / 'cyclonedds_localhost.xml'), {'ROS_LOCALHOST_ONLY': '1'}),
])
def test_publish_to_echo_with_user_config(ros_domain, uri, scope):
    env = _env(CYCLONEDDS_URI=uri, **scope)
    if 'ROS_LOCALHOST_ONLY' in scope:
        env.pop('ROS_AUTOMATIC_DISCOVERY_RANGE', None)
    echo = subprocess.Popen(CLI + ['echo', '/cfg', '--count', '2', '--timeout', '40'], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    pub = subprocess.run(CLI + ['publish', 'sim:64x48', '--topic', '/cfg', '--rate', '10',
                                '--count', '40', '--loop', '--wait-subscribers', '30'],
                         env=env, capture_output=True, text=True, timeout=90, cwd=REPO)
    out, err = echo.communicate(timeout=60)
    assert pub.returncode == 0 and 'Traceback' not in pub.stderr, pub.stderr[-2000:]
    assert echo.returncode == 0, err[-2000:]
    assert out.count('64x48 bgr8') == 2


def test_cyclone_refusal_is_one_line(ros_domain):
    bad = LO_BY_NAME.replace('"lo"', '"no_such_if0"')
    r = subprocess.run(CLI + ['publish', 'sim:64x48', '--topic', '/x', '--count', '1'],
                       env=_env(CYCLONEDDS_URI=bad), capture_output=True, text=True, timeout=60,
                       cwd=REPO)
    assert r.returncode == 1 and 'Traceback' not in r.stderr
    ours = [ln for ln in r.stderr.splitlines() if ln.startswith('publish:')]
    assert len(ours) == 1 and 'CYCLONEDDS_URI' in ours[0], r.stderr
