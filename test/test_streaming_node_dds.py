"""A node with ``-p forecast:=kalman`` end to end over real DDS on loopback (node in its own
process, the in-test participant of ``test_node_e2e_dds`` publishing and listening).

The clip is the white square of ``test_node_e2e_dds`` moving 6 px right and 2 px down per frame;
the tiny V2I bundle detects its box exactly. Frames are stamped one period apart (1 s, far longer
than the node takes, so the newest frame at publishing time is the one just processed) and each
is published once the previous output is in. References, computed here: the output stamp is the
next frame's (``forecast_target:=next_frame``: input stamp + one period, the period from the
stamps); one object keeps one track id in every output; once the filter has seen a few frames
the published box is the square's box in the *next* frame (the target), not the one it saw.
"""

import numpy as np
import pytest

from test_node_e2e_dds import (H0, SIDE_X, SIDE_Y, W0, Listener, _boxes, _image_msg,
                               serving, square_at, stamp_ns)
from video_perception import msgs

pytestmark = [pytest.mark.xdist_group('h3_dds_nodes')]
PERIOD = 1_000_000_000


def _frame(i):
    img = np.zeros((H0, W0, 3), np.uint8)
    x, y = square_at(i)
    img[y:y + SIDE_Y, x:x + SIDE_X] = 255
    return img


def _box(i):
    x, y = square_at(i)
    return np.array([x, y, x + SIDE_X, y + SIDE_Y], float)


@pytest.fixture(scope='module')
def v2i_bundle(tmp_path_factory):
    import tiny_bundles
    return tiny_bundles.make_v2i_bundle(str(tmp_path_factory.mktemp('bundles') / 'v2i'))


def test_kalman_node_publishes_tracks_at_the_target_time(ros_domain, v2i_bundle):
    from video_perception.transport.base import QOS_SENSOR_DATA
    listener = Listener()
    pub = listener.t.create_publisher(msgs.Image, '/cam', QOS_SENSOR_DATA)
    t0 = 1_700_000_000 * 10**9
    n = 12
    with serving('v2i_node', v2i_bundle, 'backend:=onnxruntime', 'forecast:=kalman',
                 listener=listener):
        assert pub.wait_for_subscribers(1, 10)
        for i in range(n):
            before = len(listener.dets)
            pub.publish(_image_msg(_frame(i), t0 + i * PERIOD))
            # the node answers each frame it saw; one lost before the reader matched is not
            # answered (best effort), and the next frame then follows it
            listener.wait('dets', before + 1, 2.0 if i < 3 else 20.0)
        diag = listener.final_diag_values()
    outs = [m for _, m in listener.dets]
    assert len(outs) >= n - 3
    ids, served = set(), []
    for msg in outs[1:]:                 # the first output: no period known from stamps yet
        out = stamp_ns(msg.header.stamp)
        i = (out - t0) // PERIOD - 1     # the frame it was computed from
        assert out == t0 + (i + 1) * PERIOD, 'stamped at the next frame (the target)'
        assert 0 <= i < n
        (det,) = msg.detections
        ids.add(det.id)
        served.append((i, _boxes(msg)[0]))
    assert len(ids) == 1 and ids != {''}, f'one object, one track id: {ids}'
    assert outs[0].detections[0].id in ids
    late = [(i, box) for i, box in served if i >= 5]
    assert len(late) >= 4
    for i, box in late:                  # the forecast is where the square will be
        np.testing.assert_allclose(box, _box(i + 1), atol=1.5)
        assert np.abs(box - _box(i)).max() > 4.0
    # the bundle's three queries (the square; two no-object boxes at score 0, tracked since
    # no threshold applies before tracking, then not published): three tracks, none restarted
    assert diag['live_tracks'] == '3' and diag['tracks_started'] == '3'
    assert float(diag['forecast_horizon_ms_median']) == pytest.approx(1000.0, abs=1.0)
