"""The glue every detector node shares: transport + parameters + detector + node core.

A node runs one family (``video_perception/families/``): ``streamnet_node`` and ``v2i_node`` are
``run_node`` with their family's name, and any registered family runs as
``python -m video_perception.node_runner --family NAME [--node-name NODE] --ros-args ...``
(a family from outside the package is named in ``VIDEO_PERCEPTION_FAMILIES``).

With the ``cameras`` parameter (image topics) one node serves several cameras with one model:
each camera ``<name>`` (``camera_names``, default cam0, cam1, ...) gets ``<name>/detections``
(and ``/image``, ``/labels``) and the newest frames of all run as one batch
(``multi_camera.py``); without it the node reads the one ``image`` topic.

``DetectorNode`` follows the lifecycle of a ROS 2 managed node (configure loads the model,
activate starts serving, deactivate stops, cleanup frees the model, shutdown does what is left).
Where the transport offers lifecycle states (``set_lifecycle_callbacks``: the rclpy adapter, an
``rclpy.lifecycle`` node), the transitions drive it and the ``autostart`` parameter (default true,
as in nav2) runs configure and activate at start; otherwise ``run_node`` configures and activates
at start, so the node behaves like a plain one.

On the way out the worker and diagnostics threads stop before the transport closes: a thread
still publishing or reading the clock of a destroyed node is what printed tracebacks on SIGINT.
"""
from __future__ import annotations

import sys
import threading
from typing import Any, List, Optional

import numpy as np

from video_perception import msgs
from video_perception.backends.base import BackendError, BackendOptions
from video_perception.bundle import BundleError
from video_perception.input_watch import InputWatch
from video_perception.node_core import NodeCore, build_core, parameter_specs
from video_perception.transport.base import (QOS_DEFAULT, QOS_LATCHED, QOS_SENSOR_DATA, QoS,
                                             ParameterError, ParameterSpec, Reliability,
                                             Transport)
from video_perception.transport.params import undeclared_overrides

DIAGNOSTICS_PERIOD_S = 1.0
# what a user sets to take an image type the node was not started for
INPUT_TYPE_HINTS = {msgs.CompressedImage.__ros_type__: 'input_type:=compressed',
                    msgs.Image.__ros_type__: 'input_type:=raw'}
# Declared on managed (lifecycle) transports only: elsewhere the node always starts serving.
AUTOSTART = ParameterSpec('autostart', True, 'configure and activate at start (as nav2 does); '
                          'false: stay unconfigured until a lifecycle transition (ros2 '
                          'lifecycle set <node> configure)', read_only=True)


def sensor_qos(reliability: str) -> QoS:
    """Sensor-data QoS (depth 5, volatile) with the reliability asked for."""
    rel = Reliability.RELIABLE if reliability == 'reliable' else Reliability.BEST_EFFORT
    return QoS(depth=QOS_SENSOR_DATA.depth, reliability=rel,
               durability=QOS_SENSOR_DATA.durability)


def image_to_msg(frame: np.ndarray, header, pixel_format: str) -> msgs.Image:
    """[h, w, 3] uint8 -> sensor_msgs/Image (rgb8 or bgr8, unpadded rows)."""
    h, w = frame.shape[:2]
    return msgs.Image(header=header, height=h, width=w,
                      encoding='rgb8' if pixel_format == 'rgb' else 'bgr8', is_bigendian=0,
                      step=w * 3, data=np.ascontiguousarray(frame, np.uint8).tobytes())


class DetectorNode:
    """One detector node on a transport; ``family`` is a registered family's name or a family
    object. It is resolved here, once, and the object is handed down (parameters, bundle,
    detector): nothing below asks the registry again."""

    def __init__(self, transport: Transport, family: Any):
        from video_perception.families import resolve
        self.t = transport
        self.family = resolve(family, 'node')
        self.params = {s.name: transport.declare_parameter(s)
                       for s in parameter_specs(self.family)}
        self.detector = None
        self.core: Optional[NodeCore] = None
        self.subscriptions = []
        self.cameras = []                 # (topic, name) per camera; empty: the one 'image'
        self.pubs = {}
        self._diag_stop = threading.Event()
        self._diag_thread: Optional[threading.Thread] = None
        self._watches: List[InputWatch] = []          # one per subscription
        transport.add_on_set_parameters_callback(self._on_parameters)

    # -- lifecycle --------------------------------------------------------------------------------
    def configure(self) -> None:
        """Load the bundle and backend (TensorRT builds its engine here); raise on failure."""
        from video_perception.detector import load_detector
        p = self.params
        options = BackendOptions(device=p['device'], threads=p['threads'], fp16=p['fp16'],
                                 engine_cache_dir=p['engine_cache_dir'],
                                 force_engine_update=p['force_engine_update'])
        settings = {k: p[k] for k in self.family.Detector.parameters if k in p}
        from video_perception.multi_camera import build_multi_core
        from video_perception.multi_camera_plan import camera_layout
        # the camera topics and names are checked before the model loads (ROS name rules,
        # duplicates after resolution): a typo costs one line, not a model load and a traceback
        self.cameras = camera_layout(p['cameras'], p['camera_names'],
                                     getattr(self.t, 'resolve', None))
        self.detector = load_detector(p['model_path'], p['backend'], options, family=self.family,
                                      log=self.t.logger.info, **settings)
        bundle = self.detector.bundle
        if self.cameras:
            self.core = build_multi_core(self.t.node_name, self.detector,
                                         [name for _, name in self.cameras],
                                         self._publish_camera, p,
                                         log_warning=self.t.logger.warning)
        else:
            self.core = build_core(self.t.node_name, self.detector, self._publish, p,
                                   log_warning=self.t.logger.warning)
        if not self.pubs:      # configure may run again after cleanup (lifecycle)
            self._create_publishers()
        from video_perception.ros_convert import label_info_msg
        for prefix in self._prefixes():
            self.pubs[prefix + 'labels'].publish(label_info_msg(
                bundle.classes, self._header(), p['score_threshold']))
        self.t.logger.info(f'configured: {bundle.family} bundle {bundle.variant or bundle.root} '
                           f'({len(bundle.classes)} classes, input {bundle.width}x'
                           f'{bundle.height}) on {self.detector.backend_description}')

    def _prefixes(self) -> List[str]:
        """Topic prefix per camera ('cam0/', ...; '' for the single camera)."""
        return [name + '/' for _, name in self.cameras] or ['']

    def _create_publishers(self) -> None:
        for prefix in self._prefixes():
            self.pubs[prefix + 'detections'] = self.t.create_publisher(
                msgs.Detection2DArray, prefix + 'detections', QOS_DEFAULT)
            self.pubs[prefix + 'labels'] = self.t.create_publisher(
                msgs.LabelInfo, prefix + 'detections/labels', QOS_LATCHED)
            self.pubs[prefix + 'image'] = self.t.create_publisher(
                msgs.Image, prefix + 'detections/image', QOS_SENSOR_DATA)
        self.pubs['diagnostics'] = self.t.create_publisher(msgs.DiagnosticArray, '/diagnostics',
                                                           QOS_DEFAULT)

    def activate(self) -> None:
        """Subscribe to the camera and start the worker and the 1 Hz diagnostics."""
        compressed = self.params['input_type'] == 'compressed'
        msg_type = msgs.CompressedImage if compressed else msgs.Image
        self.core.start()
        qos = sensor_qos(self.params['reliability'])
        if self.cameras:
            self.subscriptions = [self.t.create_subscription(msg_type, topic,
                                                             self.core.callback(i), qos)
                                  for i, (topic, _) in enumerate(self.cameras)]
        else:
            self.subscriptions = [self.t.create_subscription(msg_type, 'image',
                                                             self.core.on_image, qos)]
        self._diag_stop.clear()
        self._diag_thread = threading.Thread(target=self._diag_loop, daemon=True,
                                             name=f'{self.t.node_name}-diagnostics')
        self._diag_thread.start()
        self._watches = [InputWatch(s, msg_type.__ros_type__, self.t.logger.warning,
                                    hints=INPUT_TYPE_HINTS) for s in self.subscriptions]
        # the resolved topics (remaps and namespace applied), from the subscriptions themselves
        topics = [t for t, _ in self.cameras] or ['image']
        names = [s.topic_name or t for s, t in zip(self.subscriptions, topics)]
        if self.cameras:
            names = [f'{t} -> {n}/detections' for t, (_, n) in zip(names, self.cameras)]
        self.t.logger.info(f"serving: {'CompressedImage' if compressed else 'Image'} on "
                           f"{', '.join(names)}, stamp_mode {self.params['stamp_mode']}")

    def deactivate(self) -> None:
        for subscription in self.subscriptions:
            try:
                subscription.close()
            except Exception:  # noqa: BLE001 - the transport may already have left the graph
                pass
        self.subscriptions = []
        self._watches = []
        self._diag_stop.set()
        if self._diag_thread is not None:
            self._diag_thread.join(2.0)
            self._diag_thread = None
        if self.core is not None:
            self.core.stop()

    def cleanup(self) -> None:
        if self.detector is not None:
            self.detector.close()
        self.detector = self.core = None

    def shutdown(self) -> None:
        """From any state: stop serving and free the model (safe to call twice)."""
        self.deactivate()
        self.cleanup()

    # -- callbacks --------------------------------------------------------------------------------
    def _on_parameters(self, changes: dict) -> None:
        self.params.update(changes)
        if self.core is not None:
            self.core.on_parameters(changes)

    def _publish(self, dets, header, frame: np.ndarray, prefix: str = '') -> None:
        from video_perception.ros_convert import detections_to_msg
        self.pubs[prefix + 'detections'].publish(detections_to_msg(dets, header))
        if self.params['publish_image']:
            from video_perception.draw import draw_detections
            canvas = draw_detections(frame, dets, self.detector.class_names,
                                     pixel_order=self.detector.bundle.pixel_format)
            self.pubs[prefix + 'image'].publish(image_to_msg(canvas, header,
                                                             self.detector.bundle.pixel_format))

    def _publish_camera(self, index: int, dets, header, frame: np.ndarray) -> None:
        self._publish(dets, header, frame, self.cameras[index][1] + '/')

    def _header(self) -> msgs.Header:
        sec, nsec = divmod(self.t.now_ns(), 1_000_000_000)
        return msgs.Header(stamp=msgs.Time(sec=sec, nanosec=nsec), frame_id='')

    def _diag_loop(self) -> None:
        while not self._diag_stop.wait(DIAGNOSTICS_PERIOD_S):
            self.publish_diagnostics()

    def publish_diagnostics(self) -> None:
        from video_perception.ros_convert import diagnostic_array
        core = self.core
        if core is None:
            return
        hw, name = self.detector.backend_description, f'{self.t.node_name}: detector'
        watches = list(self._watches)
        if not self.cameras:
            values = dict(core.diagnostics_values())
            level, message = _watched(core.diagnostics_level(), values, watches[:1])
            self.pubs['diagnostics'].publish(diagnostic_array(
                self._header(), name, level, message, values, hardware_id=hw))
            return
        # one status for the batch, one per camera ("<node>: camera <name>")
        out = diagnostic_array(self._header(), name, 0, f'{len(self.cameras)} cameras, batched',
                               dict(core.batch_values()), hardware_id=hw)
        for i, (_, cam) in enumerate(self.cameras):
            values = dict(core.camera_values(i))
            level, message = _watched(core.camera_level(i), values, watches[i:i + 1])
            out.status += diagnostic_array(out.header, f'{self.t.node_name}: camera {cam}',
                                           level, message, values, hardware_id=hw).status
        out.status[0].level = max(s.level for s in out.status)
        self.pubs['diagnostics'].publish(out)


def _watched(status: tuple, values: dict, watches: list) -> tuple:
    """(level, message) of a status with what its input's watch saw added (lost frames into
    ``values``, publishers of another type on the topic into the message)."""
    level, message = status
    for watch in watches:
        values.update(watch.poll())
        if watch.foreign:
            level = max(level, 1)
            message += f"; publishers of {', '.join(watch.foreign)} on the input topic"
    return level, message


def run_node(family: str, node_name: str, argv: Optional[List[str]] = None) -> int:
    """Entry point of a family's node: 0 on a clean stop, 2 on bad set-up.

    Set-up errors (bad ``--ros-args``, a missing or corrupt bundle, an unusable backend, a bad
    parameter) print one line and exit 2: no traceback wall.
    """
    from video_perception.transport import make_transport
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        transport = make_transport(node_name, argv)
    except ValueError as exc:
        print(f'{node_name}: {exc}', file=sys.stderr)
        return 2
    managed = hasattr(transport, 'set_lifecycle_callbacks')
    try:
        node = DetectorNode(transport, family)
        declared = list(node.params)
        if managed:
            # `ros2 lifecycle set`, a launch file or nav2's lifecycle manager drive the states
            autostart = transport.declare_parameter(AUTOSTART)
            declared.append(AUTOSTART.name)
        for line in undeclared_overrides(transport.parameter_overrides(), declared):
            transport.logger.warning(line)
        if managed:
            transport.set_lifecycle_callbacks(configure=node.configure, activate=node.activate,
                                              deactivate=node.deactivate, cleanup=node.cleanup,
                                              shutdown=node.shutdown)
            if autostart:
                transport.transition('configure')
                transport.transition('activate')
        else:
            node.configure()
            node.activate()
    except (BundleError, BackendError, ParameterError) as exc:
        transport.logger.error(f'cannot start: {exc}')
        _close(transport)
        return 2
    try:
        transport.spin()
    except KeyboardInterrupt:
        pass
    finally:
        node.shutdown()        # the threads stop while the node and its context still exist
        _close(transport)
    return 0


def _close(transport: Transport) -> None:
    if hasattr(transport, 'close'):
        transport.close()
    else:
        transport.shutdown()


def _node_name(text: str) -> str:
    """argparse type: a node name by the ROS rules (one line, exit 2, before anything loads)."""
    import argparse
    from video_perception import validate
    return validate.ros_name('', text, 'node name', error=argparse.ArgumentTypeError)


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m video_perception.node_runner --family NAME [--node-name NODE] --ros-args ...``:
    the node of any registered family (default node name ``<NAME>_node``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index('--ros-args') if '--ros-args' in argv else len(argv)
    from video_perception.tools.cli_common import OneLineArgumentParser
    p = OneLineArgumentParser(prog='python -m video_perception.node_runner',
                              description='a detector node of any registered family')
    p.add_argument('--family', required=True, help='a registered family (model.json "family")')
    p.add_argument('--node-name', default=None, type=_node_name,
                   help='node name (default: <family>_node)')
    args = p.parse_args(argv[:cut])
    return run_node(args.family, args.node_name or f'{args.family}_node', argv[cut:])


if __name__ == '__main__':
    sys.exit(main())
