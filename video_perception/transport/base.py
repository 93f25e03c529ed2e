"""The one small interface a node sees: subscribe, publish, parameters, log, clock.

Two implementations: ``rclpy_transport.RclpyTransport`` (ROS 2 installed) and
``dds_transport.DdsTransport`` (cyclonedds speaking the ROS 2 wire protocol). Node logic is written
once against this interface and never knows which one runs it. Messages are the dataclasses of
``video_perception.msgs`` (same field names as the ROS 2 types); the rclpy adapter converts them at
the boundary.
"""
from __future__ import annotations

import abc
import dataclasses
import enum
import time
from typing import Any, Callable, List, Optional, Sequence


class Reliability(enum.Enum):
    RELIABLE = 'reliable'
    BEST_EFFORT = 'best_effort'


class Durability(enum.Enum):
    VOLATILE = 'volatile'
    TRANSIENT_LOCAL = 'transient_local'


@dataclasses.dataclass(frozen=True)
class QoS:
    """The subset of a ROS 2 QoS profile the nodes use (history is always KEEP_LAST)."""

    depth: int = 10
    reliability: Reliability = Reliability.RELIABLE
    durability: Durability = Durability.VOLATILE


# rmw/qos_profiles.h presets (specs/ros2.md section 4.2).
QOS_DEFAULT = QoS(depth=10)
QOS_SENSOR_DATA = QoS(depth=5, reliability=Reliability.BEST_EFFORT)
QOS_LATCHED = QoS(depth=1, durability=Durability.TRANSIENT_LOCAL)


@dataclasses.dataclass(frozen=True)
class ParameterSpec:
    """A declared parameter: name, default (its type is the parameter's type), description.

    ``choices`` restricts strings; ``min_value``/``max_value`` bound numbers (inclusive);
    ``read_only`` parameters cannot be changed after declaration (ROS read_only descriptor).
    """

    name: str
    default: Any
    description: str
    min_value: Optional[float] = None
    max_value: Optional[float] = None
    choices: Optional[Sequence[str]] = None
    read_only: bool = False


class ParameterError(ValueError):
    """A parameter value of the wrong type or out of range; the message names both."""


class Subscription(abc.ABC):
    topic_name = ''  # the resolved name (remaps and namespace applied), for logs
    lost = 0         # samples the middleware knows were lost on the way (sample-lost status)

    def publisher_types(self) -> List[str]:
        """ROS types ('sensor_msgs/msg/Image') of the publishers discovery found on this topic,
        this subscription's own type included; empty where the transport cannot tell."""
        return []

    @abc.abstractmethod
    def close(self) -> None: ...


class Publisher(abc.ABC):
    @abc.abstractmethod
    def publish(self, msg: Any) -> None: ...

    @abc.abstractmethod
    def matched(self) -> int:
        """How many subscriptions this publisher currently reaches (from discovery)."""

    def wait_for_subscribers(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` s for ``count`` matched subscriptions; False if they never
        came (the graph is kept by discovery threads on both transports: no spinning needed)."""
        deadline = time.monotonic() + timeout
        while self.matched() < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    @abc.abstractmethod
    def close(self) -> None: ...


class Logger(abc.ABC):
    @abc.abstractmethod
    def debug(self, text: str) -> None: ...

    @abc.abstractmethod
    def info(self, text: str) -> None: ...

    @abc.abstractmethod
    def warning(self, text: str) -> None: ...

    @abc.abstractmethod
    def error(self, text: str) -> None: ...


class Transport(abc.ABC):
    """What a node may do with the ROS graph.

    Topic names are resolved like ROS 2: relative names get the node namespace, ``-r from:=to``
    remaps apply, ``~/x`` is private to the node. Callbacks may run on a transport thread; the
    node must not block in them (it hands the message to its worker and returns).
    """

    node_name: str
    namespace: str

    @abc.abstractmethod
    def create_subscription(self, msg_type: type, topic: str, callback: Callable[[Any], None],
                            qos: QoS) -> Subscription: ...

    @abc.abstractmethod
    def create_publisher(self, msg_type: type, topic: str, qos: QoS) -> Publisher: ...

    @abc.abstractmethod
    def declare_parameter(self, spec: ParameterSpec) -> Any:
        """Declare and return the value (overridden by ``-p``/``--params-file`` if given).

        Raises ParameterError when an override has the wrong type or is out of range.
        """

    @abc.abstractmethod
    def get_parameter(self, name: str) -> Any: ...

    def parameter_overrides(self) -> List[str]:
        """Names given by ``-p``/``--params-file`` for this node, declared or not."""
        return []

    @abc.abstractmethod
    def set_parameter(self, name: str, value: Any) -> None:
        """Set at run time (validated as at declaration, then the callbacks run)."""

    @abc.abstractmethod
    def add_on_set_parameters_callback(self, callback: Callable[[dict], None]) -> None:
        """``callback({name: new_value})`` after a successful run-time change."""

    @property
    @abc.abstractmethod
    def logger(self) -> Logger: ...

    @abc.abstractmethod
    def now_ns(self) -> int:
        """The node's clock in nanoseconds (system time in DDS mode, the ROS clock in rclpy)."""

    @abc.abstractmethod
    def spin(self) -> None:
        """Serve until shutdown() or SIGINT/SIGTERM."""

    @abc.abstractmethod
    def shutdown(self) -> None: ...
