"""``video-perception publish SOURCE --topic T --rate HZ``: frames onto a ROS 2 topic.

SOURCE is anything ``video_perception.sources`` opens: an image folder, a video file, a rosbag2
(its image topic, ``--bag-topic`` to choose), a canonical dataset, or a simulated camera
``sim:WxH`` / ``camera-sim`` (a moving pattern). A bag's messages go out as recorded (a
CompressedImage stays compressed) unless ``--encoding`` or ``--compressed`` asks for a re-encode;
other frames go out as sensor_msgs/Image (``--encoding``, default bgr8) or CompressedImage
(``--compressed jpeg|png``). Stamps are now() unless ``--stamps source`` keeps the source's own
stamps (``FrameSource.stamped``): a bag's header stamps, the nanoseconds in Argoverse-style file
names, a dataset's timestamps; sources without stamps of their own (videos, plain folders, the
simulator) fall back to now(). Runs over the transport ``make_transport`` picks, so
``--ros-args`` works as for the nodes.
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Iterator, Optional

import numpy as np

from video_perception import msgs
from video_perception.sources import open_source, SourceFrame
from video_perception.tools.cli_common import OneLineArgumentParser, ros_tool_main
from video_perception.transport.base import QOS_DEFAULT, QOS_SENSOR_DATA
from video_perception.validate import arg_count, arg_nonnegative


def build_parser() -> argparse.ArgumentParser:
    p = OneLineArgumentParser(prog='video-perception publish',
                              description=__doc__.split('\n')[0])
    p.add_argument('source', help='image folder, video file, rosbag2, sim:WxH or camera-sim')
    p.add_argument('--topic', default='/camera/image_raw')
    p.add_argument('--rate', type=arg_nonnegative, default=10.0,
                   help='frames per second (0: as fast)')
    p.add_argument('--loop', action='store_true', help='start again at the end of the source')
    p.add_argument('--count', type=arg_count, default=None, help='stop after N messages')
    p.add_argument('--encoding', default=None,
                   help='Image encoding (bgr8, rgb8, mono8, ...; default bgr8, or as recorded '
                   'for a bag)')
    p.add_argument('--compressed', choices=('jpeg', 'png'), default=None)
    p.add_argument('--frame-id', default=None,
                   help="header frame_id (default: the bag's, else 'camera')")
    p.add_argument('--stamps', choices=('now', 'source'), default='now')
    p.add_argument('--bag-topic', default=None, help='image topic of a bag with several')
    p.add_argument('--qos', choices=('default', 'sensor'), default='default')
    p.add_argument('--times', default=None, metavar='FILE',
                   help='write one line per message: header stamp (ns) and CLOCK_MONOTONIC (ns) '
                        'just before publishing, for end-to-end latency on this machine')
    p.add_argument('--wait-subscribers', type=arg_nonnegative, default=2.0, metavar='S',
                   help='wait up to S s for a subscriber before the first frame')
    return p


def encode_frame(frame_bgr: np.ndarray, encoding: str, compressed: Optional[str],
                 header: msgs.Header):
    """A BGR frame [H, W, 3] as Image (``encoding``) or CompressedImage (``compressed``)."""
    import cv2
    if compressed:
        ok, buf = cv2.imencode('.jpg' if compressed == 'jpeg' else '.png', frame_bgr)
        if not ok:
            raise ValueError(f'cannot encode frame as {compressed}')
        return msgs.CompressedImage(header=header, format=compressed, data=buf.tobytes())
    from video_perception.image_codec import encode_image
    array = frame_bgr
    if encoding in ('rgb8', 'rgba8'):
        array = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB if encoding == 'rgb8'
                             else cv2.COLOR_BGR2RGBA)
    elif encoding == 'bgra8':
        array = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2BGRA)
    elif encoding in ('mono8', 'mono16'):
        array = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        if encoding == 'mono16':
            array = array.astype(np.uint16) * 257
    step, data = encode_image(array, encoding)
    h, w = frame_bgr.shape[:2]
    return msgs.Image(header=header, height=h, width=w, encoding=encoding, is_bigendian=0,
                      step=step, data=data)


def _frames(source, loop: bool) -> Iterator[SourceFrame]:
    """The source's frames, again and again with ``--loop``."""
    while True:
        yield from source.frames()
        if not loop:
            return


def _message(frame: SourceFrame, source, args, now_ns: int):
    """The message to publish for one frame, with its stamp and frame_id."""
    use_source = args.stamps == 'source' and source.stamped
    stamp = msgs.Time.from_ns(frame.stamp_ns if use_source else now_ns)
    if frame.msg is not None and args.encoding is None and args.compressed is None:
        msg = frame.msg  # as recorded: a CompressedImage stays compressed, encodings kept
        msg.header.stamp = stamp
        if args.frame_id is not None:
            msg.header.frame_id = args.frame_id
        return msg
    header = msgs.Header(stamp=stamp, frame_id=args.frame_id or frame.frame_id)
    return encode_frame(frame.load(), args.encoding or 'bgr8', args.compressed, header)


def _write_times(path: str, times) -> None:
    """'stamp_ns monotonic_ns' lines, written whole or not at all."""
    tmp = f'{path}.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        f.write('# header_stamp_ns monotonic_ns (CLOCK_MONOTONIC just before publish)\n')
        f.writelines(f'{s} {t}\n' for s, t in times)
    os.replace(tmp, path)


def read_times(path) -> dict:
    """``--times`` file -> {header stamp ns: publish time in seconds of time.monotonic()}."""
    out = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.strip() and not line.startswith('#'):
                s, t = line.split()
                out.setdefault(int(s), int(t) / 1e9)
    return out


def run(args, transport) -> int:
    log = transport.logger.info
    qos = QOS_SENSOR_DATA if args.qos == 'sensor' else QOS_DEFAULT
    source = open_source(args.source, args.bag_topic, simulated=True, on_skip=log,
                         topic_flag='--bag-topic')
    pub = None
    period = 1.0 / args.rate if args.rate > 0 else 0.0
    sent, start, reached = 0, None, 0
    times = []                                # (header stamp ns, monotonic ns at publish)
    for frame in _frames(source, args.loop):
        if args.count is not None and sent >= args.count:
            break
        msg = _message(frame, source, args, transport.now_ns())
        if pub is None:
            pub = transport.create_publisher(type(msg), args.topic, qos)
            if args.wait_subscribers > 0:
                if pub.wait_for_subscribers(1, args.wait_subscribers):
                    # the reader matches us a moment after we match it; a best-effort reader
                    # drops samples from a writer it does not know yet
                    time.sleep(0.3)
            start = time.monotonic()
            if not (args.stamps == 'source' and source.stamped):
                msg.header.stamp = msgs.Time.from_ns(transport.now_ns())  # after the wait
        if args.times:
            times.append((msg.header.stamp.to_ns(), time.monotonic_ns()))
        pub.publish(msg)
        sent += 1
        if not reached and sent % 16 == 1:       # discovery can match a subscriber mid-stream
            reached = pub.matched()
        if period:
            delay = start + sent * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    if sent == 0:
        raise ValueError(f"source '{args.source}': nothing to publish")
    reached = reached or pub.matched()
    if reached:
        log(f'published {sent} message(s) on {args.topic}')
    else:
        transport.logger.warning(
            f'published {sent} message(s) on {args.topic}, but no subscriber matched: nobody '
            f'received them (check the topic name, the message type, ROS_DOMAIN_ID and QoS)')
    if args.times:
        _write_times(args.times, times)
    # give reliable readers time to fetch the last samples before the participant goes away
    time.sleep(0.3)
    return 0


def main(argv=None) -> int:
    return ros_tool_main('publish', argv, build_parser,
                         lambda args, connect: run(args, connect()))
