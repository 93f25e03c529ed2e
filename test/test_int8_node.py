"""An int8 bundle (the shipped tiny StreamNet calibrated from a rosbag2) served by
``streamnet_node`` over real DDS on loopback: publisher, node and listener in their own
processes. Reference: the same int8 bundle run in this process on the frames the node
processed, in its order (the feature buffer included); the int8 detector itself is checked
against the fp32 bundle in test_int8_bundle.py."""

import pytest

import int8_bundles
from test_node_e2e_real_bundles import check_node_against_in_process

pytestmark = [pytest.mark.xdist_group('h3_dds_nodes')]


def test_int8_bundle_serves_in_the_node(tmp_path, tmp_path_factory, ros_domain):
    from video_perception.cli import main
    bundle = int8_bundles.shared_int8_tiny(tmp_path_factory)
    assert main(['synth', 'driving', str(tmp_path / 'clip'), '--seed', '101', '--videos', '1',
                 '--frames', '6']) == 0
    check_node_against_in_process('streamnet_node', str(bundle), 'onnxruntime',
                                  tmp_path / 'clip' / 'frames' / 'driving_000', rate=2.0, n=6,
                                  min_outputs=5, score_threshold=0.05)
