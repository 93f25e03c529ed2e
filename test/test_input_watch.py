"""Frames that never reach the node are noticed: gaps in the input stamps, publishers of another
image type on the subscribed topic (real DDS, separate processes), the sample-lost status."""
import subprocess
import time

import pytest

from video_perception.feature_buffer import StampMonitor

from test_node_e2e_dds import BIN, Listener, node_env, stamp_ns, start_node, stop_node

PERIOD = 33_333_333
LOSSY = ('<CycloneDDS><Domain><Internal><Test><XmitLossiness>{}</XmitLossiness></Test>'
         '</Internal></Domain></CycloneDDS>')


def test_stamp_gaps_count_the_frames_in_between():
    kept = [i for i in range(60) if i not in (5, 6, 10, 31)]
    mon = StampMonitor(leap_periods=5.0)
    for i in kept:
        mon.observe(i * PERIOD + (i % 3) * 1_000_000)      # jitter well under half a period
    # a naive count: indices the stamps skip, each gap shorter than the leap threshold
    expected = sum(b - a - 1 for a, b in zip(kept, kept[1:]) if 1 < b - a <= 5)
    assert mon.missed == expected == 4
    mon.observe(200 * PERIOD)                           # a leap: a break, not lost frames
    assert mon.missed == 4


def _publish(args, env, timeout=120):
    return subprocess.run([str(BIN / 'video-perception'), 'publish', *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _diag_after(listener, proc, timeout=10.0):
    time.sleep(1.5)                                     # one more 1 Hz diagnostics message
    assert listener.wait('diags', 1, timeout, proc)
    return listener.last_diag_values()


@pytest.fixture
def bundle(tmp_path):
    import tiny_bundles
    return tiny_bundles.make_v2i_bundle(str(tmp_path / 'v2i'))


def _node_under(bundle, publish_args, env):
    """A v2i_node (Image on /cam) while ``publish`` runs: its last diagnostics, its stderr and
    the stamps of the detections it sent."""
    node = start_node('v2i_node', bundle)
    listener = Listener()
    try:
        listener.wait_ready(node)
        pub = _publish(publish_args, env)
        assert pub.returncode == 0, pub.stderr
        values = _diag_after(listener, node)
    finally:
        rc, err = stop_node(node)
        listener.close()
    assert rc == 0 and 'Traceback' not in err, err
    return values, err, [stamp_ns(m.header.stamp) for _, m in listener.dets]


def test_publisher_of_another_type_is_named_once(tmp_path, ros_domain, bundle):
    values, err, _ = _node_under(
        bundle, ['sim:64x48', '--topic', '/cam', '--compressed', 'jpeg', '--count', '20',
                 '--rate', '10', '--wait-subscribers', '1'], node_env())
    lines = [ln for ln in err.splitlines() if 'CompressedImage' in ln]
    assert len(lines) == 1, err                         # once, not once per second
    assert '/cam' in lines[0] and 'input_type:=compressed' in lines[0]
    assert values['frames_received'] == '0'             # the two types never match on DDS
    assert values['publishers_of_other_types'] in ('0', '1')   # 1 while it was there


def _lossy_run(bundle, times):
    """A node fed 60 frames by a publisher that drops 15 % of its UDP packets: (diagnostics,
    stamps published, stamps the node answered)."""
    from video_perception.tools.publish import read_times
    values, _, answered = _node_under(
        bundle, ['sim:64x48', '--topic', '/cam', '--count', '60', '--rate', '15', '--qos',
                 'sensor', '--wait-subscribers', '20', '--times', str(times)],
        node_env({'CYCLONEDDS_URI': LOSSY.format(150)}))
    published = sorted(read_times(times))
    return values, published, sorted(set(answered) & set(published))


def test_frames_lost_on_the_wire_are_counted(tmp_path, ros_domain, bundle):
    """The publisher drops 15 % of its UDP packets (Cyclone's own test knob): best-effort frames
    vanish with no error anywhere; the node's stamp gaps count them. Discovery packets are lost
    too, so a run where the node's reader never matched the writer is tried again."""
    for attempt in range(3):
        values, published, served = _lossy_run(bundle, tmp_path / f'times{attempt}.txt')
        if served:
            break
    received, missing = int(values['frames_received']), int(values['frames_missing_by_stamp'])
    assert served and received < len(published) and missing > 0, values
    # between the first and the last frame the node saw, every published frame was either
    # received or counted missing (give or take the first gap, before a period is known)
    window = [s for s in published if served[0] <= s <= served[-1]]
    assert abs(received + missing - len(window)) <= 2, (values, len(window))
    assert 'frames_lost_in_transport' in values
