"""The ROS 2 message types the package uses, as plain Python dataclasses.

Field names, order and types are exactly those of the ROS 2 Humble/Jazzy messages, so node code
written with attribute access (``msg.header.stamp.sec``, ``msg.data``) runs unchanged on rclpy
messages. Each class carries its ROS schema in ``__ros_fields__`` (name, type) which drives the
CDR codec (``video_perception.wire``), the DDS type definitions and the rclpy converters.

Field type notation: a primitive name ('int32', 'float64', 'string', 'byte', ...), a message
class, ``Seq(t)`` for an unbounded sequence ``t[]`` and ``Arr(t, n)`` for a fixed array ``t[n]``.
``uint8[]`` fields (``Image.data``) hold any bytes-like object (bytes, memoryview, a contiguous
uint8 numpy array) and are decoded as ``bytes``, so big frames cost one memory copy. ``byte``
fields (``DiagnosticStatus.level``) are ints here; rclpy uses length-1 bytes and the rclpy adapter
converts.
"""
from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any, Dict, List, Tuple


@dataclasses.dataclass(frozen=True)
class Seq:
    """Unbounded sequence ``elem[]``."""

    elem: Any


@dataclasses.dataclass(frozen=True)
class Arr:
    """Fixed-size array ``elem[length]``."""

    elem: Any
    length: int


# ROS type name ('pkg/msg/Name') -> class, filled by _ros_message.
MESSAGE_TYPES: Dict[str, type] = {}


def _ros_message(ros_type: str, fields: Tuple[Tuple[str, Any], ...]):
    def wrap(cls):
        cls.__ros_type__ = ros_type
        cls.__ros_fields__ = fields
        declared = [f.name for f in dataclasses.fields(cls)]
        assert declared == [name for name, _ in fields], (ros_type, declared)
        MESSAGE_TYPES[ros_type] = cls
        return cls
    return wrap


def dds_type_name(cls_or_name) -> str:
    """'sensor_msgs/msg/Image' (or its class) -> 'sensor_msgs::msg::dds_::Image_' (rmw naming)."""
    name = cls_or_name if isinstance(cls_or_name, str) else cls_or_name.__ros_type__
    pkg, kind, base = name.split('/')
    return f'{pkg}::{kind}::dds_::{base}_'


def message_class(type_name: str) -> type:
    """Look a message class up by 'pkg/msg/Name', 'pkg/Name' or the bare 'Name'.

    Raises:
        ValueError: the type is not one of MESSAGE_TYPES (the message lists the known ones).
    """
    if type_name in MESSAGE_TYPES:
        return MESSAGE_TYPES[type_name]
    parts = type_name.split('/')
    for ros_type, cls in MESSAGE_TYPES.items():
        pkg, _, base = ros_type.split('/')
        if parts == [pkg, base] or parts == [base]:
            return cls
    known = ', '.join(sorted(MESSAGE_TYPES))
    raise ValueError(f"message type '{type_name}' is not supported; expected one of {known}")


# --- builtin_interfaces, std_msgs ----------------------------------------------------------------

@_ros_message('builtin_interfaces/msg/Time', (('sec', 'int32'), ('nanosec', 'uint32')))
@dataclasses.dataclass
class Time:
    sec: int = 0
    nanosec: int = 0

    @classmethod
    def from_ns(cls, ns: int) -> 'Time':
        return cls(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))

    def to_ns(self) -> int:
        # Non-normalised stamps (nanosec >= 1e9, seen in real bags) add up correctly this way.
        return int(self.sec) * 1_000_000_000 + int(self.nanosec)


@_ros_message('std_msgs/msg/Header', (('stamp', Time), ('frame_id', 'string')))
@dataclasses.dataclass
class Header:
    stamp: Time = field(default_factory=Time)
    frame_id: str = ''


@_ros_message('std_msgs/msg/String', (('data', 'string'),))
@dataclasses.dataclass
class String:
    data: str = ''


# --- sensor_msgs ---------------------------------------------------------------------------------

@_ros_message('sensor_msgs/msg/Image', (
    ('header', Header), ('height', 'uint32'), ('width', 'uint32'), ('encoding', 'string'),
    ('is_bigendian', 'uint8'), ('step', 'uint32'), ('data', Seq('uint8'))))
@dataclasses.dataclass
class Image:
    header: Header = field(default_factory=Header)
    height: int = 0
    width: int = 0
    encoding: str = ''
    is_bigendian: int = 0
    step: int = 0
    data: Any = b''  # bytes-like, step * height bytes


@_ros_message('sensor_msgs/msg/CompressedImage', (
    ('header', Header), ('format', 'string'), ('data', Seq('uint8'))))
@dataclasses.dataclass
class CompressedImage:
    header: Header = field(default_factory=Header)
    format: str = ''  # 'jpeg', 'png', or image_transport's 'bgr8; jpeg compressed bgr8'
    data: Any = b''


# --- geometry_msgs -------------------------------------------------------------------------------

@_ros_message('geometry_msgs/msg/Point', (('x', 'float64'), ('y', 'float64'), ('z', 'float64')))
@dataclasses.dataclass
class Point:
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0


@_ros_message('geometry_msgs/msg/Quaternion', (
    ('x', 'float64'), ('y', 'float64'), ('z', 'float64'), ('w', 'float64')))
@dataclasses.dataclass
class Quaternion:
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    w: float = 1.0  # the .msg default: identity rotation


@_ros_message('geometry_msgs/msg/Pose', (('position', Point), ('orientation', Quaternion)))
@dataclasses.dataclass
class Pose:
    position: Point = field(default_factory=Point)
    orientation: Quaternion = field(default_factory=Quaternion)


@_ros_message('geometry_msgs/msg/PoseWithCovariance', (
    ('pose', Pose), ('covariance', Arr('float64', 36))))
@dataclasses.dataclass
class PoseWithCovariance:
    pose: Pose = field(default_factory=Pose)
    covariance: List[float] = field(default_factory=lambda: [0.0] * 36)  # row-major 6x6


# --- vision_msgs (4.x layout, specs/ros2.md section 3.2) -----------------------------------------

@_ros_message('vision_msgs/msg/Point2D', (('x', 'float64'), ('y', 'float64')))
@dataclasses.dataclass
class Point2D:
    x: float = 0.0
    y: float = 0.0


@_ros_message('vision_msgs/msg/Pose2D', (('position', Point2D), ('theta', 'float64')))
@dataclasses.dataclass
class Pose2D:
    position: Point2D = field(default_factory=Point2D)
    theta: float = 0.0


@_ros_message('vision_msgs/msg/BoundingBox2D', (
    ('center', Pose2D), ('size_x', 'float64'), ('size_y', 'float64')))
@dataclasses.dataclass
class BoundingBox2D:
    center: Pose2D = field(default_factory=Pose2D)
    size_x: float = 0.0
    size_y: float = 0.0


@_ros_message('vision_msgs/msg/ObjectHypothesis', (('class_id', 'string'), ('score', 'float64')))
@dataclasses.dataclass
class ObjectHypothesis:
    class_id: str = ''
    score: float = 0.0


@_ros_message('vision_msgs/msg/ObjectHypothesisWithPose', (
    ('hypothesis', ObjectHypothesis), ('pose', PoseWithCovariance)))
@dataclasses.dataclass
class ObjectHypothesisWithPose:
    hypothesis: ObjectHypothesis = field(default_factory=ObjectHypothesis)
    pose: PoseWithCovariance = field(default_factory=PoseWithCovariance)


@_ros_message('vision_msgs/msg/Detection2D', (
    ('header', Header), ('results', Seq(ObjectHypothesisWithPose)), ('bbox', BoundingBox2D),
    ('id', 'string')))
@dataclasses.dataclass
class Detection2D:
    header: Header = field(default_factory=Header)
    results: List[ObjectHypothesisWithPose] = field(default_factory=list)
    bbox: BoundingBox2D = field(default_factory=BoundingBox2D)
    id: str = ''  # tracking id, may be empty


@_ros_message('vision_msgs/msg/Detection2DArray', (
    ('header', Header), ('detections', Seq(Detection2D))))
@dataclasses.dataclass
class Detection2DArray:
    header: Header = field(default_factory=Header)
    detections: List[Detection2D] = field(default_factory=list)


@_ros_message('vision_msgs/msg/VisionClass', (('class_id', 'uint16'), ('class_name', 'string')))
@dataclasses.dataclass
class VisionClass:
    class_id: int = 0
    class_name: str = ''


@_ros_message('vision_msgs/msg/LabelInfo', (
    ('header', Header), ('class_map', Seq(VisionClass)), ('threshold', 'float32')))
@dataclasses.dataclass
class LabelInfo:
    header: Header = field(default_factory=Header)
    class_map: List[VisionClass] = field(default_factory=list)
    threshold: float = 0.0


# --- diagnostic_msgs -----------------------------------------------------------------------------

@_ros_message('diagnostic_msgs/msg/KeyValue', (('key', 'string'), ('value', 'string')))
@dataclasses.dataclass
class KeyValue:
    key: str = ''
    value: str = ''


@_ros_message('diagnostic_msgs/msg/DiagnosticStatus', (
    ('level', 'byte'), ('name', 'string'), ('message', 'string'), ('hardware_id', 'string'),
    ('values', Seq(KeyValue))))
@dataclasses.dataclass
class DiagnosticStatus:
    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3

    level: int = 0
    name: str = ''
    message: str = ''
    hardware_id: str = ''
    values: List[KeyValue] = field(default_factory=list)


@_ros_message('diagnostic_msgs/msg/DiagnosticArray', (
    ('header', Header), ('status', Seq(DiagnosticStatus))))
@dataclasses.dataclass
class DiagnosticArray:
    header: Header = field(default_factory=Header)
    status: List[DiagnosticStatus] = field(default_factory=list)


IMAGE_TYPES = (Image, CompressedImage)
