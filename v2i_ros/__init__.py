"""The V2I ROS 2 node: camera in, single-frame V2I-DETR student, detections out."""
