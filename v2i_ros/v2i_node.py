"""``v2i_node``: a V2I-DETR student (lesion detection in medical video) on a camera stream.

    v2i_node --ros-args -p model_path:=DIR -r image:=/endoscope/image_raw

The same topics and parameters as ``streamnet_node`` (without ``nms_iou``: DETR needs no NMS,
and with ``stamp_mode`` fixed to ``input``: the student detects the present frame).

This file is only the entry point. The family (detector, decoding, bundle graphs, its
parameters) is ``video_perception/families/v2i.py``; the node glue shared by every family is
``video_perception/node_runner.py`` and ``node_core.py`` (docs/ARCHITECTURE.md).
"""
import sys

from video_perception.node_runner import run_node

FAMILY = 'v2i'      # which bundles it runs and which parameters it declares
NODE_NAME = 'v2i_node'


def main(argv=None) -> int:
    return run_node(FAMILY, NODE_NAME, argv)


if __name__ == '__main__':
    sys.exit(main())
