"""``video-perception echo TOPIC --type TYPE``: print messages received on a ROS 2 topic.

One compact line per message (Image: stamp, frame, size, encoding; Detection2DArray: stamp and
one line per box), or one JSON object per line with ``--json``. ``--count N`` stops after N
messages, ``--timeout S`` after S seconds (exit 1 when fewer than N, or none, arrived). If TOPIC
is a rosbag2 path, its image messages are printed instead (non-image topics are skipped with a
message on stderr).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import queue
import signal
import sys
import threading
import time

from video_perception import msgs
from video_perception.tools.cli_common import OneLineArgumentParser, ros_tool_main
from video_perception.transport.base import QOS_DEFAULT, QOS_LATCHED, QOS_SENSOR_DATA
from video_perception.validate import arg_count, arg_positive

QOS_CHOICES = {'sensor': QOS_SENSOR_DATA, 'default': QOS_DEFAULT, 'latched': QOS_LATCHED}


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog='video-perception echo', description=__doc__.split('\n')[0])
    p.add_argument('topic', help='topic name (or a rosbag2 path)')
    p.add_argument('--type', default='sensor_msgs/msg/Image',
                   help='message type, e.g. Image, sensor_msgs/msg/CompressedImage, '
                        'vision_msgs/msg/Detection2DArray')
    p.add_argument('--count', type=arg_count, default=None)
    p.add_argument('--timeout', type=arg_positive, default=None, metavar='S')
    p.add_argument('--qos', choices=tuple(QOS_CHOICES), default=None,
                   help='default: sensor for images, latched for LabelInfo, else default')
    p.add_argument('--json', action='store_true', help='one JSON object per message')
    return p


def _stamp(header: msgs.Header) -> str:
    return f'{header.stamp.sec}.{header.stamp.nanosec:09d}'


def to_jsonable(msg):
    """A message as plain JSON data; byte payloads become their length and a short hex head."""
    if dataclasses.is_dataclass(msg):
        return {f.name: to_jsonable(getattr(msg, f.name)) for f in dataclasses.fields(msg)}
    if isinstance(msg, (bytes, bytearray, memoryview)):
        raw = bytes(msg)
        return {'bytes': len(raw), 'head': raw[:8].hex()}
    if isinstance(msg, list):
        return [to_jsonable(v) for v in msg]
    return msg


def format_message(msg) -> str:
    """The compact text form of one message."""
    if isinstance(msg, msgs.Image):
        return (f'stamp={_stamp(msg.header)} frame_id={msg.header.frame_id} '
                f'{msg.width}x{msg.height} {msg.encoding} step={msg.step} '
                f'bytes={len(msg.data)}')
    if isinstance(msg, msgs.CompressedImage):
        return (f'stamp={_stamp(msg.header)} frame_id={msg.header.frame_id} '
                f'format={msg.format} bytes={len(msg.data)}')
    if isinstance(msg, msgs.Detection2DArray):
        lines = [f'stamp={_stamp(msg.header)} frame_id={msg.header.frame_id} '
                 f'detections={len(msg.detections)}']
        for det in msg.detections:
            hyp = det.results[0].hypothesis if det.results else msgs.ObjectHypothesis()
            c = det.bbox.center.position
            lines.append(f'  class={hyp.class_id} score={hyp.score:.3f} cx={c.x:.1f} '
                         f'cy={c.y:.1f} w={det.bbox.size_x:.1f} h={det.bbox.size_y:.1f}'
                         + (f' id={det.id}' if det.id else ''))
        return '\n'.join(lines)
    if isinstance(msg, msgs.LabelInfo):
        names = ', '.join(f'{c.class_id}:{c.class_name}' for c in msg.class_map)
        return f'stamp={_stamp(msg.header)} threshold={msg.threshold:g} classes=[{names}]'
    if isinstance(msg, msgs.DiagnosticArray):
        return '\n'.join([f'stamp={_stamp(msg.header)} status={len(msg.status)}'] + [
            f'  [{s.level}] {s.name}: {s.message} '
            + ' '.join(f'{kv.key}={kv.value}' for kv in s.values) for s in msg.status])
    if isinstance(msg, msgs.String):
        return f'data={msg.data!r}'
    return json.dumps(to_jsonable(msg))


def _emit(msg, as_json: bool) -> None:
    print(json.dumps(to_jsonable(msg)) if as_json else format_message(msg), flush=True)


def echo_bag(path: str, args) -> int:
    from video_perception.bagio import BagReader
    n = 0
    with BagReader(path) as bag:
        for item in bag.images(on_skip=lambda line: print(f'echo: {line}', file=sys.stderr)):
            if args.count is not None and n >= args.count:
                break
            print(f'{item.topic} receive={item.receive_ns} ', end='')
            _emit(item.msg, args.json)
            n += 1
    return 0


def run(args, transport) -> int:
    """Print what arrives on ``args.topic``; the transport spins on this (the main) thread.

    rclpy runs callbacks only inside ``spin`` (and wants signals on the main thread), so the
    printing happens on a worker thread that calls ``transport.shutdown()`` when done; DDS
    callbacks run on DDS threads and its ``spin`` just waits, so one shape serves both.
    """
    msg_type = msgs.message_class(args.type)
    qos_name = args.qos or ('sensor' if msg_type in msgs.IMAGE_TYPES else
                            'latched' if msg_type is msgs.LabelInfo else 'default')
    inbox: queue.Queue = queue.Queue()
    transport.create_subscription(msg_type, args.topic, inbox.put, QOS_CHOICES[qos_name])
    spun_out = threading.Event()              # spin returned: Ctrl-C, SIGTERM or our shutdown
    status = []

    def printer_main() -> None:
        try:
            status.append(_print_until_done(args, inbox, spun_out, transport.shutdown))
        except OSError as exc:                # stdout gone (the reader of a pipe exited)
            print(f'echo: {exc}', file=sys.stderr)
            status.append(1)

    printer = threading.Thread(target=printer_main, name='echo-print', daemon=True)
    printer.start()
    try:
        transport.spin()
    finally:
        spun_out.set()
        printer.join()
    stopped_by = getattr(transport, 'stopped_by', None)
    if stopped_by is not None:  # the dispatcher prints the one line, exit 130 / 143
        from video_perception.tools.cli_common import Terminated
        raise Terminated() if stopped_by == signal.SIGTERM else KeyboardInterrupt()
    return status[0] if status else 130


def _print_until_done(args, inbox: queue.Queue, spun_out: threading.Event, stop) -> int:
    """Print messages until ``--count``/``--timeout`` (then ``stop()``) or the spin ends."""
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    received, interrupted = 0, False
    try:
        while (args.count is None or received < args.count) and not spun_out.is_set():
            wait = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                msg = inbox.get(timeout=wait)
            except queue.Empty:
                continue
            _emit(msg, args.json)
            received += 1
        interrupted = spun_out.is_set()  # a signal ended the spin: not a timeout to report
    finally:
        stop()
    short = received == 0 or (args.count and received < args.count)
    if not interrupted and args.timeout is not None and short:
        want = f'{args.count}' if args.count else 'any'
        print(f'echo: received {received} of {want} message(s) on {args.topic} within '
              f'{args.timeout:g} s', file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    def body(args, connect) -> int:
        if pathlib.Path(args.topic).exists():
            return echo_bag(args.topic, args)
        return run(args, connect())
    return ros_tool_main('echo', argv, build_parser, body)
