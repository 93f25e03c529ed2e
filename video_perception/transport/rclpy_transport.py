"""The Transport over rclpy, for machines with ROS 2 (Humble, Jazzy).

rclpy is imported inside the constructor only, so this module imports anywhere. Messages are
converted at the boundary between our dataclasses (``video_perception.msgs``) and the rclpy
classes, field by field from ``__ros_fields__``; ``uint8[]`` payloads move as one buffer copy and
``byte`` fields become rclpy's length-1 bytes. ``--ros-args`` are handed to rclpy itself, so
remaps, ``__node``/``__ns`` and ``--params-file`` behave exactly as in ROS.
"""
from __future__ import annotations

import array
import importlib
import threading
from typing import Any, Callable, Dict, List, Optional

from video_perception.msgs import Arr, Seq
from video_perception.transport.cdr import as_bytes_view as _as_bytes_view
from video_perception.transport.base import (Durability, Logger, ParameterError, ParameterSpec,
                                             Publisher, QoS, Reliability, Subscription,
                                             Transport)
from video_perception.transport.params import check_value

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
            buf.frombytes(_as_bytes_view(value))  # one copy, no per-byte Python work
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


class _RosLogger(Logger):
    def __init__(self, logger):
        self._l = logger

    def debug(self, text: str) -> None:
        self._l.debug(text)

    def info(self, text: str) -> None:
        self._l.info(text)

    def warning(self, text: str) -> None:
        self._l.warning(text)

    def error(self, text: str) -> None:
        self._l.error(text)


class _Pub(Publisher):
    def __init__(self, node, pub):
        self._node, self._pub = node, pub

    def publish(self, msg: Any) -> None:
        self._pub.publish(to_ros(msg))

    def close(self) -> None:
        self._node.destroy_publisher(self._pub)


class _Sub(Subscription):
    def __init__(self, node, sub):
        self._node, self._sub = node, sub

    def close(self) -> None:
        self._node.destroy_subscription(self._sub)


class RclpyTransport(Transport):
    """A node on rclpy; see the module docstring."""

    def __init__(self, node_name: str, argv: Optional[List[str]] = None):
        import rclpy
        self._rclpy = rclpy
        if not rclpy.ok():
            rclpy.init(args=['video_perception'] + list(argv or []))
        self._node = rclpy.create_node(node_name)
        self.node_name = self._node.get_name()
        self.namespace = self._node.get_namespace()
        self._specs: Dict[str, ParameterSpec] = {}
        self._callbacks: List[Callable[[dict], None]] = []
        self._stop = threading.Event()
        self._node.add_on_set_parameters_callback(self._validate)

    def _qos(self, qos: QoS):
        from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=qos.depth,
            reliability=(ReliabilityPolicy.RELIABLE if qos.reliability is Reliability.RELIABLE
                         else ReliabilityPolicy.BEST_EFFORT),
            durability=(DurabilityPolicy.TRANSIENT_LOCAL
                        if qos.durability is Durability.TRANSIENT_LOCAL
                        else DurabilityPolicy.VOLATILE))

    def create_subscription(self, msg_type, topic, callback, qos) -> Subscription:
        sub = self._node.create_subscription(
            ros_class(msg_type), topic, lambda m: callback(from_ros(m, msg_type)), self._qos(qos))
        return _Sub(self._node, sub)

    def create_publisher(self, msg_type, topic, qos) -> Publisher:
        return _Pub(self._node, self._node.create_publisher(ros_class(msg_type), topic,
                                                            self._qos(qos)))

    def declare_parameter(self, spec: ParameterSpec) -> Any:
        from rcl_interfaces.msg import ParameterDescriptor
        from rclpy.parameter import Parameter
        self._specs[spec.name] = spec
        # dynamic typing lets our check_value decide (e.g. 1 for a double, as in DDS mode) so
        # both transports accept and reject the same values with the same one-line message
        desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only,
                                   dynamic_typing=True)
        try:
            param = self._node.declare_parameter(spec.name, spec.default, desc)
        except Exception as exc:  # noqa: BLE001 - rclpy raises its own type errors
            raise ParameterError(f"parameter '{spec.name}': {exc}") from None
        value = check_value(spec, param.value)
        if type(value) is not type(param.value) and not spec.read_only:
            self._node.set_parameters([Parameter(spec.name, value=value)])
        return value

    def get_parameter(self, name: str) -> Any:
        return self._node.get_parameter(name).value

    def set_parameter(self, name: str, value: Any) -> None:
        from rclpy.parameter import Parameter
        spec = self._specs.get(name)
        if spec is None:
            raise ParameterError(f"parameter '{name}' is not declared")
        value = check_value(spec, value)
        result = self._node.set_parameters([Parameter(name, value=value)])[0]
        if not result.successful:
            raise ParameterError(result.reason)

    def _validate(self, params):
        from rcl_interfaces.msg import SetParametersResult
        changed = {}
        for p in params:
            spec = self._specs.get(p.name)
            if spec is None:
                continue
            try:
                changed[p.name] = check_value(spec, p.value)
            except ParameterError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        # rclpy has no portable post-set hook on Humble: the change is accepted here
        for callback in self._callbacks:
            callback(changed)
        return SetParametersResult(successful=True)

    def add_on_set_parameters_callback(self, callback: Callable[[dict], None]) -> None:
        self._callbacks.append(callback)

    @property
    def logger(self) -> Logger:
        return _RosLogger(self._node.get_logger())

    def now_ns(self) -> int:
        return self._node.get_clock().now().nanoseconds

    def spin(self) -> None:
        from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
        executor = SingleThreadedExecutor()
        executor.add_node(self._node)
        try:
            while self._rclpy.ok() and not self._stop.is_set():
                executor.spin_once(timeout_sec=0.2)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            self.close()

    def shutdown(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._node is not None:
            self._node.destroy_node()
            self._node = None
            self._rclpy.try_shutdown()
