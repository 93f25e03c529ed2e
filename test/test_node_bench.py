"""The node-overhead benchmark separates model time from what the node adds."""
import pytest

import tiny_bundles
from video_perception.node_bench import bench_buffer, bench_node

pytestmark = pytest.mark.xdist_group('h3_bundles')


def test_overhead_excludes_model_time(tmp_path):
    root = tiny_bundles.make_streamnet_bundle(str(tmp_path / 'sn'))
    r = bench_node(root, 'onnxruntime', width=640, height=480, frames=6, warmup=1,
                   simulate_latency_ms=40.0)
    assert r['model_ms'] >= 40.0                  # the simulated model time is model time
    assert r['overhead_ms'] < 40.0                # and is not counted as overhead
    assert r['total_ms'] == pytest.approx(r['model_ms'] + r['overhead_ms'], abs=5.0)
    assert r['buffer_ms'] > 0


def test_buffer_cost_grows_with_feature_size():
    small = bench_buffer({'f': (1, 8, 8, 8)}, 3, iterations=50)
    big = bench_buffer({'f': (1, 128, 75, 120)}, 3, iterations=50)   # StreamNet-S P3 at 600x960
    assert big > small
