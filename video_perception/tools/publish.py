"""``video-perception publish SOURCE --topic T --rate HZ``: frames onto a ROS 2 topic.

SOURCE is an image folder, a video file, a rosbag2 (its image topic, ``--bag-topic`` to choose),
or a simulated camera ``sim:WxH`` / ``camera-sim`` (a moving pattern). Frames go out as
sensor_msgs/Image (``--encoding``) or CompressedImage (``--compressed jpeg|png``). Stamps are
now() unless ``--stamps source`` keeps the source's stamps: a bag's header stamps, or for an image
folder nanosecond timestamps in the file names (``ring_front_center_315976361109760008.jpg``,
Argoverse style: a trailing run of at least 16 digits); video and other files fall back to
now(). Runs over the transport ``make_transport`` picks, so
``--ros-args`` works as for the nodes.
"""
from __future__ import annotations

import argparse
import itertools
import pathlib
import re
import sys
import time
from typing import Iterator, Optional, Tuple

import numpy as np

from video_perception import msgs
from video_perception.transport.base import QOS_DEFAULT, QOS_SENSOR_DATA

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.ppm', '.pgm')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='video-perception publish',
                                description=__doc__.split('\n')[0])
    p.add_argument('source', help='image folder, video file, rosbag2, sim:WxH or camera-sim')
    p.add_argument('--topic', default='/camera/image_raw')
    p.add_argument('--rate', type=float, default=10.0, help='frames per second (0: as fast)')
    p.add_argument('--loop', action='store_true', help='start again at the end of the source')
    p.add_argument('--count', type=int, default=None, help='stop after N messages')
    p.add_argument('--encoding', default='bgr8', help='Image encoding (bgr8, rgb8, mono8, ...)')
    p.add_argument('--compressed', choices=('jpeg', 'png'), default=None)
    p.add_argument('--frame-id', default='camera')
    p.add_argument('--stamps', choices=('now', 'source'), default='now')
    p.add_argument('--bag-topic', default=None, help='image topic of a bag with several')
    p.add_argument('--qos', choices=('default', 'sensor'), default='default')
    p.add_argument('--wait-subscribers', type=float, default=2.0, metavar='S',
                   help='wait up to S s for a subscriber before the first frame')
    return p


def sim_frames(width: int, height: int) -> Iterator[np.ndarray]:
    """A camera simulator: a colour gradient with a bright square moving across it."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([(xx * 255 // max(width - 1, 1)), (yy * 255 // max(height - 1, 1)),
                     np.full_like(xx, 96)], axis=-1).astype(np.uint8)  # [H, W, 3] BGR
    side = max(4, min(width, height) // 5)
    for i in itertools.count():
        frame = base.copy()
        x = (i * 7) % max(width - side, 1)
        y = (i * 3) % max(height - side, 1)
        frame[y:y + side, x:x + side] = (255, 255, 255)
        yield frame


def _parse_sim(source: str) -> Optional[Tuple[int, int]]:
    if source == 'camera-sim':
        return 640, 480
    if source.startswith('sim:'):
        try:
            w, h = (int(v) for v in source[4:].lower().split('x'))
        except ValueError:
            raise ValueError(f"source '{source}': expected sim:WIDTHxHEIGHT, e.g. sim:640x480")
        if w <= 0 or h <= 0:
            raise ValueError(f"source '{source}': width and height must be positive")
        return w, h
    return None


def _is_bag(path: pathlib.Path) -> bool:
    return ((path.is_dir() and (path / 'metadata.yaml').exists())
            or path.suffix in ('.db3', '.mcap'))


def stamp_from_name(name: str) -> Optional[int]:
    """Nanoseconds from a file stem ending in >= 16 digits (frame numbers are not stamps)."""
    match = re.search(r'(\d{16,})$', pathlib.Path(name).stem)
    return int(match.group(1)) if match else None


def file_frames(path: pathlib.Path) -> Iterator[Tuple[np.ndarray, Optional[int]]]:
    """(BGR frame [H, W, 3], stamp ns from the file name or None) of a folder or a video."""
    import cv2
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f'image folder {path}: no images ({", ".join(IMAGE_SUFFIXES)})')
        for f in files:
            frame = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if frame is None:
                raise ValueError(f'image {f}: cannot decode')
            yield frame, stamp_from_name(f.name)
        return
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ValueError(f'video {path}: cannot open (not a video OpenCV can read)')
    try:
        n = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            yield frame, None
        if n == 0:
            raise ValueError(f'video {path}: no frames')
    finally:
        cap.release()


def encode_frame(frame_bgr: np.ndarray, encoding: str, compressed: Optional[str],
                 header: msgs.Header):
    """A BGR frame [H, W, 3] as Image (``encoding``) or CompressedImage (``compressed``)."""
    import cv2
    if compressed:
        ok, buf = cv2.imencode('.jpg' if compressed == 'jpeg' else '.png', frame_bgr)
        if not ok:
            raise ValueError(f'cannot encode frame as {compressed}')
        return msgs.CompressedImage(header=header, format=compressed, data=buf.tobytes())
    try:
        from video_perception.image_codec import encode_image
    except ImportError:  # the codec module is optional here; bgr8/rgb8/mono8 cover the tool
        encode_image = _encode_basic
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


def _encode_basic(array: np.ndarray, encoding: str):
    if encoding not in ('bgr8', 'rgb8', 'mono8', 'bgra8', 'rgba8', 'mono16'):
        raise ValueError(f"encoding '{encoding}': this tool packs bgr8, rgb8, bgra8, rgba8, "
                         'mono8 and mono16')
    array = np.ascontiguousarray(array)
    return array.shape[1] * array.strides[1], array.tobytes()


def _frames(source: str, args, log) -> Iterator[Tuple[object, Optional[int]]]:
    """(frame array or ready message, source stamp ns or None) forever/once per --loop."""
    sim = _parse_sim(source)
    if sim is not None:
        for frame in sim_frames(*sim):
            yield frame, None
        return
    path = pathlib.Path(source)
    if not path.exists():
        raise ValueError(f"source '{source}': no such file or folder (expected an image folder, "
                         'a video, a rosbag2, sim:WxH or camera-sim)')
    while True:
        if _is_bag(path):
            from video_perception.bagio import BagReader
            with BagReader(path) as bag:
                for item in bag.images(args.bag_topic, on_skip=log):
                    yield item.msg, item.stamp_ns
        else:
            yield from file_frames(path)
        if not args.loop:
            return


def run(args, transport) -> int:
    log = transport.logger.info
    qos = QOS_SENSOR_DATA if args.qos == 'sensor' else QOS_DEFAULT
    msg_type = msgs.CompressedImage if args.compressed else msgs.Image
    source_is_bag = _parse_sim(args.source) is None and _is_bag(pathlib.Path(args.source))
    pub = None
    period = 1.0 / args.rate if args.rate > 0 else 0.0
    sent, start = 0, None
    for item, stamp_ns in _frames(args.source, args, log):
        if args.count is not None and sent >= args.count:
            break
        if pub is None:
            if source_is_bag:
                msg_type = type(item)
            pub = transport.create_publisher(msg_type, args.topic, qos)
            waiter = getattr(pub, 'wait_for_subscribers', None)
            if waiter is not None and args.wait_subscribers > 0:
                if waiter(1, args.wait_subscribers):
                    # the reader matches us a moment after we match it; a best-effort reader
                    # drops samples from a writer it does not know yet
                    time.sleep(0.3)
            start = time.monotonic()
        now = transport.now_ns()
        if isinstance(item, np.ndarray):
            use_source = args.stamps == 'source' and stamp_ns is not None
            header = msgs.Header(stamp=msgs.Time.from_ns(stamp_ns if use_source else now),
                                 frame_id=args.frame_id)
            msg = encode_frame(item, args.encoding, args.compressed, header)
        else:
            msg = item
            if args.stamps == 'now' or stamp_ns is None:
                msg.header.stamp = msgs.Time.from_ns(now)
        pub.publish(msg)
        sent += 1
        if period:
            delay = start + sent * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    if sent == 0:
        raise ValueError(f"source '{args.source}': nothing to publish")
    log(f'published {sent} message(s) on {args.topic}')
    # give reliable readers time to fetch the last samples before the participant goes away
    time.sleep(0.3)
    return 0


def main(argv=None) -> int:
    from video_perception.bagio import BagError
    from video_perception.transport import make_transport
    from video_perception.transport.ros_args import parse, RosArgsError
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        ros = parse(argv)
    except RosArgsError as exc:
        print(f'publish: {exc}', file=sys.stderr)
        return 2
    args = build_parser().parse_args(ros.rest)
    transport = None
    try:
        transport = make_transport('video_perception_publish', argv)
        return run(args, transport)
    except (ValueError, BagError, OSError) as exc:
        print(f'publish: {exc}', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if transport is not None:
            getattr(transport, 'close', transport.shutdown)()
