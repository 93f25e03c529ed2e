"""Transports: how a node reaches the ROS graph (rclpy where installed, else plain DDS).

``make_transport(node_name, argv)`` picks rclpy when it imports and DDS otherwise; the environment
variable ``VIDEO_PERCEPTION_TRANSPORT=dds|rclpy`` forces one.
"""
from __future__ import annotations

import importlib.util
import os
from typing import List

from video_perception.transport.base import Transport


def rclpy_available() -> bool:
    return importlib.util.find_spec('rclpy') is not None


def make_transport(node_name: str, argv: List[str]) -> Transport:
    """The transport for a node named ``node_name`` with command line ``argv`` (no program name).

    Raises:
        ValueError: VIDEO_PERCEPTION_TRANSPORT names an unknown or unavailable transport, or a
            ``--ros-args`` token is malformed (DDS mode).
    """
    choice = os.environ.get('VIDEO_PERCEPTION_TRANSPORT', '').strip().lower()
    if choice not in ('', 'dds', 'rclpy'):
        raise ValueError(f"VIDEO_PERCEPTION_TRANSPORT='{choice}': expected 'dds' or 'rclpy'")
    if choice == 'rclpy' or (not choice and rclpy_available()):
        if not rclpy_available():
            raise ValueError('VIDEO_PERCEPTION_TRANSPORT=rclpy but rclpy is not importable '
                             '(source a ROS 2 setup.bash first)')
        from video_perception.transport.rclpy_transport import RclpyTransport
        return RclpyTransport(node_name, argv)
    from video_perception.transport.dds_transport import DdsTransport
    return DdsTransport(node_name, argv)
