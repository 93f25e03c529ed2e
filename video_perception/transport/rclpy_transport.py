"""The Transport over rclpy, for machines with ROS 2 (Humble, Jazzy).

rclpy is imported inside the constructor only, so this module imports anywhere. Messages are
converted at the boundary (``rclpy_convert``). ``--ros-args`` are handed to rclpy itself, so
remaps, ``__node``/``__ns`` and ``--params-file`` behave exactly as in ROS.

The node is an ``rclpy.lifecycle`` managed node: ``set_lifecycle_callbacks`` hands it the
detector's configure/activate/deactivate/cleanup/shutdown, which ``<node>/change_state`` (``ros2
lifecycle set``, a launch file, nav2's lifecycle manager) then drives. Parameters are statically
typed with ranges and read_only in their descriptors (``ros2 param describe`` shows them); an
integer given for a double is converted before rclpy checks the type, as in DDS mode.

Stopping: rclpy's own SIGINT/SIGTERM handlers would shut the context down under the running
worker and diagnostics threads, so this transport installs none; during ``spin()`` a signal only
ends the spin, the caller stops its threads, and ``close()`` then runs the shutdown transition,
destroys the node and shuts the context down, in that order.
"""
from __future__ import annotations

import signal
import threading
from typing import Any, Callable, Dict, List, Optional

from video_perception.transport.base import (Durability, Logger, Publisher, QoS, Reliability,
                                             Subscription, Transport)
from video_perception.transport.params import RclpyParameters, StoredParameters
from video_perception.transport.rclpy_convert import from_ros, ros_class, to_ros

__all__ = ['RclpyTransport', 'from_ros', 'ros_class', 'to_ros']


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

    def matched(self) -> int:
        return self._pub.get_subscription_count()

    def close(self) -> None:
        self._node.destroy_publisher(self._pub)


class _Sub(Subscription):
    def __init__(self, node, sub):
        self._node, self._sub = node, sub
        self.topic_name = sub.topic_name

    def on_message_lost(self, info) -> None:
        self.lost = int(info.total_count)

    def publisher_types(self) -> List[str]:
        return [i.topic_type for i in self._node.get_publishers_info_by_topic(self.topic_name)]

    def close(self) -> None:
        self._node.destroy_subscription(self._sub)


_TRANSITIONS = ('configure', 'activate', 'deactivate', 'cleanup', 'shutdown')


def _managed_node(name: str, context, on_transition: Callable[[str], Any]):
    """An rclpy LifecycleNode whose transition callbacks all go to ``on_transition(name)``."""
    from rclpy.lifecycle import LifecycleNode, LifecycleNodeMixin

    class ManagedNode(LifecycleNode):
        def _LifecycleNodeMixin__on_change_state(self, req, resp):
            # rclpy 7.1.6 raises in the executor on a transition the current state does not
            # have (ros2/rclpy#1209), which ends spin: answer success=False, as rclcpp does
            if not req.transition.label and req.transition.id not in [
                    t[0] for t in self._state_machine.available_transitions]:
                self.get_logger().warning(f'transition {req.transition.id} is not available '
                                          f'in state {self._state_machine.current_state[1]}')
                resp.success = False
                return resp
            return LifecycleNodeMixin._LifecycleNodeMixin__on_change_state(self, req, resp)

        def on_configure(self, state):
            return on_transition('configure')

        def on_activate(self, state):
            return on_transition('activate')

        def on_deactivate(self, state):
            return on_transition('deactivate')

        def on_cleanup(self, state):
            return on_transition('cleanup')

        def on_shutdown(self, state):
            return on_transition('shutdown')

    return ManagedNode(name, context=context)


class RclpyTransport(StoredParameters, Transport):
    """A managed node on rclpy; see the module docstring. Its parameters are
    ``params.RclpyParameters`` (the checks of DDS mode over the node's own)."""

    def __init__(self, node_name: str, argv: Optional[List[str]] = None):
        import rclpy
        from rclpy.signals import SignalHandlerOptions
        from video_perception.transport import ros_args
        try:
            # the same checks and one-line errors as on DDS (names by the ROS rules, parameter
            # files read and their node keys checked), before rcl prints its own multi-line ones
            ros_args.parse(list(argv or []))
        except ros_args.RosArgsError as exc:
            if not exc.unknown_token:
                raise
        self._context = rclpy.Context()
        try:
            rclpy.init(args=['video_perception'] + list(argv or []), context=self._context,
                       signal_handler_options=SignalHandlerOptions.NO)
        except Exception as exc:  # noqa: BLE001 - rcl reports bad --ros-args as RCLError
            raise ValueError(f'bad --ros-args: {str(exc).splitlines()[0]}') from None
        self._node = _managed_node(node_name, self._context, self._on_transition)
        self.node_name = self._node.get_name()
        self.namespace = self._node.get_namespace()
        self._lifecycle: Dict[str, Callable[[], None]] = {}
        self._failure: Optional[BaseException] = None
        self._quiet = False
        self._stop = threading.Event()
        self._signals: Dict[int, Any] = {}
        self._params = RclpyParameters(self._node)    # declared, checked, change callbacks

    # -- lifecycle --------------------------------------------------------------------------------
    def set_lifecycle_callbacks(self, **callbacks: Callable[[], None]) -> None:
        """What each transition runs (keys from configure, activate, deactivate, cleanup,
        shutdown); a callback that raises fails the transition with one logged line."""
        unknown = set(callbacks) - set(_TRANSITIONS)
        if unknown:
            raise ValueError(f"unknown lifecycle transitions {sorted(unknown)}: expected "
                             f"{', '.join(_TRANSITIONS)}")
        self._lifecycle.update(callbacks)

    def transition(self, name: str) -> None:
        """Run a transition here (``autostart``); re-raises what made its callback fail."""
        from rclpy.lifecycle import TransitionCallbackReturn
        self._failure, self._quiet = None, True
        try:
            result = getattr(self._node, f'trigger_{name}')()
        finally:
            self._quiet = False
        if result != TransitionCallbackReturn.SUCCESS:
            raise self._failure or RuntimeError(f'lifecycle transition {name} failed')

    def _on_transition(self, name: str):
        from rclpy.lifecycle import TransitionCallbackReturn
        callback = self._lifecycle.get(name)
        try:
            if callback is not None:
                callback()
        except Exception as exc:  # noqa: BLE001 - a failed transition must not end the node
            self._failure = exc
            if not self._quiet:       # driven from outside: the caller only sees success=False
                self.logger.error(f'{name} failed: {exc}')
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    # -- topics -----------------------------------------------------------------------------------
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
        from rclpy.event_handler import SubscriptionEventCallbacks, UnsupportedEventTypeError
        lost: list = []     # the wrapper exists only after rclpy's subscription: forward to it
        events = SubscriptionEventCallbacks(
            message_lost=lambda info: lost and lost[0].on_message_lost(info))
        args = (ros_class(msg_type), topic, lambda m: callback(from_ros(m, msg_type)),
                self._qos(qos))
        try:
            sub = self._node.create_subscription(*args, event_callbacks=events)
        except UnsupportedEventTypeError:
            # rclpy does not guard message_lost as it does its default events; an rmw without
            # it still serves, and ``lost`` stays 0 (the stamp-gap count still tells)
            sub = self._node.create_subscription(*args)
        lost.append(_Sub(self._node, sub))
        return lost[0]

    def resolve(self, topic: str) -> str:
        """``topic`` as this node resolves it (namespace, ``~``, remaps); ValueError if invalid."""
        try:
            return self._node.resolve_topic_name(topic)
        except Exception as exc:  # noqa: BLE001 - rclpy raises its own exception types
            raise ValueError(' '.join(str(exc).split())) from None

    def create_publisher(self, msg_type, topic, qos) -> Publisher:
        return _Pub(self._node, self._node.create_publisher(ros_class(msg_type), topic,
                                                            self._qos(qos)))

    # -- the rest ---------------------------------------------------------------------------------
    @property
    def logger(self) -> Logger:
        return _RosLogger(self._node.get_logger())

    def now_ns(self) -> int:
        return self._node.get_clock().now().nanoseconds

    def spin(self) -> None:
        """Serve until shutdown() or SIGINT/SIGTERM; the node stays up for the caller to stop
        its threads, then ``close()``."""
        from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
        if threading.current_thread() is threading.main_thread() and not self._signals:
            # from here to close(); tools that never spin keep Ctrl-C as KeyboardInterrupt
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._signals[sig] = signal.signal(sig, self._on_signal)
        executor = SingleThreadedExecutor(context=self._context)
        executor.add_node(self._node)
        try:
            while self._context.ok() and not self._stop.is_set():
                try:
                    executor.spin_once(timeout_sec=0.2)
                except (KeyboardInterrupt, ExternalShutdownException):
                    raise
                except Exception as exc:  # noqa: BLE001 - one bad callback must not end the node
                    self.logger.error(f'callback failed: {type(exc).__name__}: {exc}')
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            executor.remove_node(self._node)
            executor.shutdown()

    def _on_signal(self, signum, frame) -> None:
        self.stopped_by = signum  # a tool re-raises it after spin (cli.py's one exit line)
        self._stop.set()

    def shutdown(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """The shutdown transition, then the node, then the context; idempotent."""
        self._stop.set()
        if self._node is None:
            return
        try:
            self._node.trigger_shutdown()   # runs the 'shutdown' callback unless finalized
        except Exception:  # noqa: BLE001 - already finalized, or in a transition
            pass
        self._node.destroy_node()
        self._node = None
        self._context.try_shutdown()
        for sig, handler in self._signals.items():
            signal.signal(sig, handler)
        self._signals.clear()
