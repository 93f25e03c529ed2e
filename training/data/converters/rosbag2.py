"""An image topic of a rosbag2 (sqlite3 or mcap): frames without ground truth, for replay.

``sensor_msgs/msg/Image`` (mono8/16, rgb8, bgr8, rgba8, bgra8, 8UC1/3, 16UC1) and
``sensor_msgs/msg/CompressedImage`` are read with ``video_perception.bagio`` (rosbags underneath,
messages in receive order); each message becomes a frame file
under OUT/frames/<topic>/ and timestamp = its header stamp in seconds (sec + nanosec * 1e-9, so
unnormalised stamps such as nanosec = 2e9 still give the right time). With no ``--topic`` the
bag must hold exactly one image topic.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from video_perception.dataset import DatasetBuilder

# encoding -> (numpy dtype, channels, whether to swap RGB->BGR for cv2.imwrite)
ENCODINGS = {
    'mono8': (np.uint8, 1, False), '8UC1': (np.uint8, 1, False),
    'mono16': (np.uint16, 1, False), '16UC1': (np.uint16, 1, False),
    'bgr8': (np.uint8, 3, False), '8UC3': (np.uint8, 3, False),
    'rgb8': (np.uint8, 3, True), 'bgra8': (np.uint8, 4, False), 'rgba8': (np.uint8, 4, True),
}


def add_arguments(group) -> None:
    group.add_argument('--topic', default=None, help='image topic (default: the only one)')
    group.add_argument('--image-format', choices=('png', 'jpg'), default='png',
                       help='how frames are written (png is lossless)')


def image_msg_to_array(msg, kind: str) -> np.ndarray:
    """An Image or CompressedImage message (``kind`` names which) as an OpenCV array (BGR)."""
    import cv2
    if kind.endswith('CompressedImage'):
        img = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f'compressed image ({msg.format}) cannot be decoded')
        return img
    if msg.encoding not in ENCODINGS:
        raise ValueError(f'image encoding {msg.encoding!r} not supported; expected one of '
                         + ', '.join(ENCODINGS))
    dtype, channels, swap = ENCODINGS[msg.encoding]
    itemsize = np.dtype(dtype).itemsize
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    row_bytes = msg.width * channels * itemsize
    img = np.ascontiguousarray(rows[:, :row_bytes]).view(dtype)
    big = bool(msg.is_bigendian) != (np.little_endian is False)
    if itemsize > 1 and big:
        img = img.byteswap()
    img = img.reshape(msg.height, msg.width, channels)
    if channels == 1:
        return img[..., 0]
    if swap:
        img = img[..., [2, 1, 0] + ([3] if channels == 4 else [])]
    return np.ascontiguousarray(img)


def convert(args) -> dict:
    from video_perception import bagio
    with bagio.open_bag(args.src) as bag:
        topics = [t.name for t in bag.image_topics()]
        topic = args.topic
        if topic is None and len(topics) > 1:
            raise ValueError(f'{args.src}: {len(topics)} image topics {topics}; choose one with '
                             '--topic')
        if topic is None and topics:
            topic = topics[0]
        total = sum(t.count for t in bag.image_topics() if t.name == topic)
        builder = DatasetBuilder([])
        vid = -1
        # bag.images raises a one-line BagError (a ValueError) for a bag without image topics.
        for index, item in enumerate(tqdm(bag.images(topic), total=total, desc=str(topic),
                                          leave=False)):
            if vid < 0:
                vid = builder.add_video(item.topic)
            kind = 'CompressedImage' if hasattr(item.msg, 'format') else 'Image'
            img = image_msg_to_array(item.msg, kind)
            rel = args.sink.write(img, item.topic, f'{index:06d}.{args.image_format}')
            builder.add_image(vid, rel, img.shape[0], img.shape[1], item.stamp_ns * 1e-9)
    if not builder.images:
        raise ValueError(f'{args.src}: image topic {topic} has no messages')
    return builder.build()
