"""Our message dataclasses <-> rclpy message classes, at the rclpy transport's boundary.

Field by field from ``__ros_fields__``; ``uint8[]`` payloads move as one buffer copy and ``byte``
fields become rclpy's length-1 bytes. The rclpy classes are imported on first use only.
"""
from __future__ import annotations

import array
import importlib
from typing import Any, Dict

from video_perception.msgs import Arr, Seq
from video_perception.transport.cdr import as_bytes_view

_ROS_CLASSES: Dict[type, type] = {}


def ros_class(our_cls: type) -> type:
    """The rclpy message class for one of our classes ('sensor_msgs/msg/Image' -> Image)."""
    if our_cls not in _ROS_CLASSES:
        pkg, kind, name = our_cls.__ros_type__.split('/')
        _ROS_CLASSES[our_cls] = getattr(importlib.import_module(f'{pkg}.{kind}'), name)
    return _ROS_CLASSES[our_cls]


def to_ros(msg) -> Any:
    """Our message -> the rclpy message with the same content."""
    out = ros_class(type(msg))()
    for name, ftype in msg.__ros_fields__:
        value = getattr(msg, name)
        if ftype == 'byte':
            value = bytes([int(value)]) if not isinstance(value, bytes) else value
        elif isinstance(ftype, Seq) and ftype.elem == 'uint8':
            buf = array.array('B')
            buf.frombytes(as_bytes_view(value))  # one copy, no per-byte Python work
            value = buf
        elif isinstance(ftype, (Seq, Arr)) and not isinstance(ftype.elem, str):
            value = [to_ros(v) for v in value]
        elif isinstance(ftype, Arr):
            value = list(value)
        elif isinstance(ftype, type):
            value = to_ros(value)
        setattr(out, name, value)
    return out


def from_ros(ros_msg, our_cls: type):
    """An rclpy message -> our dataclass (``uint8[]`` as bytes)."""
    obj = our_cls.__new__(our_cls)
    for name, ftype in our_cls.__ros_fields__:
        value = getattr(ros_msg, name)
        if ftype == 'byte':
            value = value[0] if isinstance(value, (bytes, bytearray)) else int(value)
        elif isinstance(ftype, Seq) and ftype.elem == 'uint8':
            value = bytes(value)
        elif isinstance(ftype, (Seq, Arr)) and not isinstance(ftype.elem, str):
            value = [from_ros(v, ftype.elem) for v in value]
        elif isinstance(ftype, Arr):
            value = [float(v) for v in value]
        elif isinstance(ftype, type):
            value = from_ros(value, ftype)
        setattr(obj, name, value)
    return obj
