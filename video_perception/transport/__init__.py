"""Transports: how a node reaches the ROS graph (rclpy in a ROS environment, else plain DDS).

How the transport is chosen (``make_transport``):

1. ``VIDEO_PERCEPTION_TRANSPORT=rclpy`` or ``=dds`` forces one (an unknown value, or ``rclpy``
   where it does not import, is a one-line error).
2. Otherwise rclpy when both ``rclpy`` and ``vision_msgs`` import: a sourced ROS 2 (apt) or the
   project's .venv after ``make ros``. The node is then a real ROS node: lifecycle states,
   parameter services, ``ros2 node list``, the rmw the user configured.
3. Otherwise DDS (cyclonedds speaking the ROS 2 wire protocol): works with no ROS installed and
   still talks to ROS 2 nodes on the same domain. rclpy without vision_msgs (a ROS install missing
   ``ros-<distro>-vision-msgs``) also falls back to DDS, with one line on stderr saying so.

Tools that need no ROS (``make demo``, the benchmarks) set ``VIDEO_PERCEPTION_TRANSPORT=dds`` for
their children, so they behave the same with or without ROS in the environment.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from typing import List

from video_perception.transport.base import Transport

ENV = 'VIDEO_PERCEPTION_TRANSPORT'


def rclpy_available() -> bool:
    return importlib.util.find_spec('rclpy') is not None


def choose_transport() -> str:
    """'rclpy' or 'dds' as the rules in the module docstring decide (ValueError: bad ENV)."""
    choice = os.environ.get(ENV, '').strip().lower()
    if choice not in ('', 'dds', 'rclpy'):
        raise ValueError(f"{ENV}='{choice}': expected 'dds' or 'rclpy'")
    if choice == 'rclpy' and not rclpy_available():
        raise ValueError(f'{ENV}=rclpy but rclpy is not importable '
                         '(source a ROS 2 setup.bash first, or run `make ros`)')
    if choice:
        return choice
    if not rclpy_available():
        return 'dds'
    if importlib.util.find_spec('vision_msgs') is None:
        print('video_perception: rclpy imports but vision_msgs does not (apt install '
              'ros-$ROS_DISTRO-vision-msgs): using the DDS transport', file=sys.stderr)
        return 'dds'
    return 'rclpy'


def make_transport(node_name: str, argv: List[str]) -> Transport:
    """The transport for a node named ``node_name`` with command line ``argv`` (no program name).

    Raises:
        ValueError: VIDEO_PERCEPTION_TRANSPORT names an unknown or unavailable transport, or a
            ``--ros-args`` token is malformed (DDS mode).
    """
    if choose_transport() == 'rclpy':
        from video_perception.transport.rclpy_transport import RclpyTransport
        return RclpyTransport(node_name, argv)
    from video_perception.transport.dds_transport import DdsTransport
    return DdsTransport(node_name, argv)
