"""``streamnet_node``: DAMO-StreamNet on a camera stream (rclpy where installed, else plain DDS).

    streamnet_node --ros-args -p model_path:=DIR -r image:=/camera/image_raw

Subscribes ``image`` (sensor_msgs/Image, or CompressedImage with ``input_type:=compressed``),
publishes ``detections`` (vision_msgs/Detection2DArray, boxes in original pixels, the input
header or, with ``stamp_mode:=forecast``, the stamp of the frame the boxes forecast),
``detections/labels`` (LabelInfo, transient local), ``detections/image`` (with
``publish_image:=true``) and
``/diagnostics`` at 1 Hz. Parameters: ``video_perception.node_core.parameter_specs(FAMILY)``.

This file is only the entry point. The family (detector, feature buffer, bundle graphs, its
parameters) is ``video_perception/families/streamnet.py``; the node glue shared by every family
is ``video_perception/node_runner.py`` and ``node_core.py`` (docs/ARCHITECTURE.md).
"""
import sys

from video_perception.node_runner import run_node

FAMILY = 'streamnet'      # which bundles it runs and which parameters it declares
NODE_NAME = 'streamnet_node'


def main(argv=None) -> int:
    return run_node(FAMILY, NODE_NAME, argv)


if __name__ == '__main__':
    sys.exit(main())
