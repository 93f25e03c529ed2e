"""The Transport over plain DDS (cyclonedds), speaking the ROS 2 wire protocol.

A node run this way is an ordinary participant of a ROS 2 graph (specs/ros2.md section 4):
topics ``rt/<resolved name>``, types ``pkg::msg::dds_::Name_`` (``dds_types``), XCDR1 payloads
(``cdr``), the rmw QoS mapping and participant USER_DATA ``enclave=/;`` (``dds_endpoints``),
``ROS_DOMAIN_ID`` and the discovery range (``cyclone_config``), and the node and its endpoints
announced on ``ros_discovery_info`` (``graph_info``) so ``ros2 node list`` and ``ros2 topic info
-v`` name it.

Parameters of a running node can be changed without ROS through a small request topic,
``rt/<node fqn>/set_parameters_simple`` (std_msgs/String holding a YAML mapping
``{name: value}``); ``set_parameters_remote`` sends one. Each change is validated like a
declaration and logged; the node's on-set callbacks run on success.
"""
from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any, Callable, Dict, Optional

import yaml
from cyclonedds.core import Listener
from cyclonedds.builtin import BuiltinDataReader, BuiltinTopicDcpsPublication
from cyclonedds.internal import InvalidSample
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from video_perception import msgs
from video_perception.transport import cdr, cyclone_config, dds_types, graph_info, ros_args
from video_perception.transport.base import (Logger, ParameterError, Publisher, QoS, QOS_DEFAULT,
                                             QOS_LATCHED, Subscription, Transport)
# the entities as rmw_cyclonedds makes them (their own module since the split; dds_qos,
# open_participant and wait_for_match stay importable from here)
from video_perception.transport.dds_endpoints import (DdsPublisher, DdsSubscription, dds_qos,
                                                      delete_entity, open_participant,
                                                      wait_for_match)
from video_perception.transport.params import ParameterStore, StoredParameters

SET_PARAMETERS_TOPIC = 'set_parameters_simple'
_LEVELS = {'debug': 10, 'info': 20, 'warn': 30, 'error': 40, 'fatal': 50}


class StderrLogger(Logger):
    """ROS-style lines on stderr: ``[INFO] [1700000000.123456789] [node]: text``."""

    def __init__(self, name: str, level: str = 'info'):
        self.name = name
        self.level = _LEVELS.get(level, 20)
        self._lock = threading.Lock()

    def _emit(self, level: str, text: str) -> None:
        if _LEVELS[level] < self.level:
            return
        now = time.time_ns()
        line = ' '.join(str(text).splitlines()) or '""'
        with self._lock:
            print(f'[{level.upper()}] [{now // 10**9}.{now % 10**9:09d}] [{self.name}]: {line}',
                  file=sys.stderr, flush=True)

    def debug(self, text: str) -> None:
        self._emit('debug', text)

    def info(self, text: str) -> None:
        self._emit('info', text)

    def warning(self, text: str) -> None:
        self._emit('warn', text)

    def error(self, text: str) -> None:
        self._emit('error', text)


class DdsTransport(StoredParameters, Transport):
    """A node on plain DDS; see the module docstring. Its parameters are a
    ``params.ParameterStore``."""

    def __init__(self, node_name: str, argv: Optional[list] = None,
                 parsed: Optional[ros_args.RosArgs] = None):
        self.args = parsed if parsed is not None else ros_args.parse(list(argv or []))
        self.node_name = self.args.node_name or node_name
        self.namespace = self.args.namespace or '/'
        self.fqn = ros_args.join_name(self.namespace, self.node_name)
        self._logger = StderrLogger(self.node_name, self.args.log_level or 'info')
        self._remaps = self.args.remaps_for(self.node_name)
        self._params = ParameterStore(self.args.parameters_for(self.node_name, self.namespace))
        self._participant = open_participant()
        # ros_discovery_info: so ROS graph tools name this node and its endpoints
        self._graph = graph_info.GraphAnnouncer(self._participant, self.namespace, self.node_name,
                                                dds_qos(QOS_LATCHED, writer=True))
        self._topics: Dict[str, Topic] = {}
        self._entities: list = []
        self._pub_reader = None
        self._stop = threading.Event()
        self.errors = 0  # callback exceptions (a node counts bad input and keeps serving)
        self.create_subscription(msgs.String, f'~/{SET_PARAMETERS_TOPIC}',
                                 self._on_set_parameters, QOS_DEFAULT)

    # --- names and entities ----------------------------------------------------------------------
    def resolve(self, topic: str) -> str:
        return ros_args.resolve_topic(topic, self.node_name, self.namespace, self._remaps)

    def _topic(self, msg_type: type, name: str) -> Topic:
        dds_name = 'rt' + name
        topic = self._topics.get(dds_name)
        if topic is None:
            topic = Topic(self._participant, dds_name, dds_types.dds_type(msg_type))
            self._topics[dds_name] = topic
        return topic

    def create_subscription(self, msg_type: type, topic: str, callback: Callable[[Any], None],
                            qos: QoS) -> Subscription:
        name = self.resolve(topic)
        holder: list = []

        def on_data(reader) -> None:
            # Transient-local samples can arrive while the DataReader is still being constructed;
            # cyclonedds then passes None (the entity is not registered yet): drained below.
            reader = reader if reader is not None else (holder[0] if holder else None)
            if reader is None:
                return
            while not self._stop.is_set():
                try:
                    # one at a time: a malformed payload then costs only itself
                    samples = reader.take(N=1)
                except cdr.CdrError as exc:
                    self.errors += 1
                    self._logger.error(f'dropped a message on {name}: {exc}')
                    continue
                except Exception as exc:  # noqa: BLE001 - a bad payload must not stop the node
                    self.errors += 1
                    self._logger.error(f'reading {name} failed: {type(exc).__name__}: {exc}')
                    return
                if not samples:
                    return
                for sample in samples:
                    if isinstance(sample, InvalidSample):  # writer gone / disposed: no data
                        continue
                    try:
                        callback(sample)
                    except Exception as exc:  # noqa: BLE001
                        self.errors += 1
                        self._logger.error(f'callback on {name} failed: '
                                           f'{type(exc).__name__}: {exc}')

        sub = DdsSubscription(None, name, self._publications())
        reader = DataReader(self._participant, self._topic(msg_type, name),
                            qos=dds_qos(qos, writer=False),
                            listener=Listener(on_data_available=on_data,
                                              on_sample_lost=sub.on_sample_lost))
        sub._reader = reader
        holder.append(reader)
        self._entities.append(reader)
        self._graph.add(reader, is_writer=False)
        on_data(reader)
        return sub

    def _publications(self) -> BuiltinDataReader:
        """Discovery's list of every writer in the domain (created once, read on demand)."""
        if self._pub_reader is None:
            self._pub_reader = BuiltinDataReader(self._participant, BuiltinTopicDcpsPublication)
            self._entities.append(self._pub_reader)
        return self._pub_reader

    def create_publisher(self, msg_type: type, topic: str, qos: QoS) -> Publisher:
        name = self.resolve(topic)
        writer = DataWriter(self._participant, self._topic(msg_type, name),
                            qos=dds_qos(qos, writer=True))
        self._entities.append(writer)
        self._graph.add(writer, is_writer=True)
        return DdsPublisher(writer, msg_type, name)

    # --- parameters (StoredParameters: declare, get, set, callbacks) -----------------------------
    def _on_set_parameters(self, msg: msgs.String) -> None:
        try:
            request = yaml.safe_load(msg.data)
        except yaml.YAMLError:
            request = None
        if not isinstance(request, dict):
            self._logger.warning(f'set_parameters_simple: expected a YAML mapping, got '
                                 f'{msg.data[:80]!r}')
            return
        for name, value in request.items():
            try:
                self._params.set(str(name), value)
                self._logger.info(f"parameter '{name}' set to {value!r}")
            except ParameterError as exc:
                self._logger.warning(f'set_parameters_simple rejected: {exc}')

    # --- the rest --------------------------------------------------------------------------------
    @property
    def logger(self) -> Logger:
        return self._logger

    def now_ns(self) -> int:
        return time.time_ns()

    def spin(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self._on_signal)
        # the participant stays until close(): the node's own threads (worker, diagnostics) are
        # stopped first, or they would publish on deleted writers while the process winds down
        while not self._stop.wait(0.2):
            pass

    def _on_signal(self, signum, frame) -> None:
        self.stopped_by = signum  # a tool re-raises it after spin (cli.py's one exit line)
        self._stop.set()

    def spin_once(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s; False once shut down (callbacks run on DDS threads)."""
        return not self._stop.wait(timeout)

    def shutdown(self) -> None:
        """Stop spinning (safe from a callback); close() then leaves the graph."""
        self._stop.set()

    def close(self) -> None:
        """Leave the graph: deleting the participant deletes its endpoints. Not from callbacks."""
        self._stop.set()
        if self._participant is not None:
            self._entities.clear()
            self._topics.clear()
            delete_entity(self._participant)
            self._participant = None

    @property
    def ok(self) -> bool:
        return not self._stop.is_set()


def set_parameters_remote(node_fqn: str, values: Dict[str, Any], timeout: float = 5.0) -> None:
    """Ask a running DDS-mode node (e.g. '/streamnet_node') to set parameters.

    Raises:
        TimeoutError: no such node answered discovery within ``timeout`` seconds.
    """
    participant = open_participant()
    name = ros_args.resolve_topic(f'{node_fqn.rstrip("/")}/{SET_PARAMETERS_TOPIC}', '', '/')
    topic = Topic(participant, 'rt' + name, dds_types.dds_type(msgs.String))
    writer = DataWriter(participant, topic, qos=dds_qos(QOS_DEFAULT, writer=True))
    if not wait_for_match(writer, timeout):
        raise TimeoutError(f'no node listens on {name} (is {node_fqn} running in DDS mode on '
                           f'ROS_DOMAIN_ID={cyclone_config.domain_id()}?)')
    writer.write(dds_types.carrier(msgs.String(data=yaml.safe_dump(dict(values)))))
    writer.wait_for_acks(duration(seconds=timeout))
