"""launch_testing tests: the installed nodes under ``ros2 launch`` with rclpy (ROS 2 only).

Here (no ROS 2) they skip with the reason; the same node logic runs over DDS in
test_node_e2e_dds.py and the launch files are checked statically in test_launch_static.py.
"""
import os
import pathlib
import tempfile
import time
import unittest

import numpy as np
import pytest

SKIP = ('needs a ROS 2 installation (rclpy, launch, launch_testing: source '
        '/opt/ros/<distro>/setup.bash and colcon build the package); covered without ROS by '
        'test_node_e2e_dds.py and test_launch_static.py')
rclpy = pytest.importorskip('rclpy', reason=SKIP)
launch = pytest.importorskip('launch', reason=SKIP)
launch_ros = pytest.importorskip('launch_ros', reason=SKIP)
launch_testing = pytest.importorskip('launch_testing', reason=SKIP)
import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402

import tiny_bundles  # noqa: E402

pytestmark = pytest.mark.ros
TEST_DIR = pathlib.Path(__file__).resolve().parent


@pytest.mark.launch_test
def generate_test_description():
    bundle = tiny_bundles.make_v2i_bundle(tempfile.mkdtemp(prefix='v2i_launch_'))
    node = launch_ros.actions.Node(
        package='video_perception', executable='v2i_node', name='v2i_node',
        parameters=[{'model_path': bundle, 'backend': 'onnxruntime'}],
        remappings=[('image', '/cam')],
        additional_env={'PYTHONPATH': str(TEST_DIR) + os.pathsep
                        + os.environ.get('PYTHONPATH', '')})
    return launch.LaunchDescription([node, launch_testing.actions.ReadyToTest()]), {'node': node}


class TestDetectionsArrive(unittest.TestCase):
    def test_stamp_copied_and_box_in_original_pixels(self):
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray
        rclpy.init()
        probe = rclpy.create_node('launch_probe')
        got = []
        probe.create_subscription(Detection2DArray, '/detections', got.append, 10)
        pub = probe.create_publisher(Image, '/cam', qos_profile_sensor_data)
        frame = np.zeros((120, 160, 3), np.uint8)
        frame[30:54, 20:50] = 255
        msg = Image(height=120, width=160, encoding='bgr8', step=480, data=frame.tobytes())
        msg.header.frame_id = 'camera'
        deadline = time.monotonic() + 60
        try:
            while not got and time.monotonic() < deadline:
                msg.header.stamp.sec += 1
                pub.publish(msg)
                rclpy.spin_once(probe, timeout_sec=0.5)
            self.assertTrue(got, 'no Detection2DArray within 60 s')
            det = got[0]
            self.assertEqual(det.header.frame_id, 'camera')
            self.assertGreater(det.header.stamp.sec, 0)
            box = det.detections[0].bbox
            self.assertAlmostEqual(box.center.position.x, 35.0, delta=2.0)
            self.assertAlmostEqual(box.center.position.y, 42.0, delta=2.0)
        finally:
            probe.destroy_node()
            rclpy.shutdown()


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info)


def test_every_launch_file_loads():
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    for path in sorted((TEST_DIR.parent / 'launch').glob('*.launch.py')):
        description = PythonLaunchDescriptionSource(str(path)).get_launch_description(
            launch.LaunchContext())
        assert description.entities, path.name
