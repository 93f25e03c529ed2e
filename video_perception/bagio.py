"""rosbag2 reading and writing with ``rosbags`` (sqlite3 and mcap, metadata v4..v9).

Reading gives image messages (sensor_msgs/Image and CompressedImage) as our message classes
(``video_perception.msgs``, decoded by our CDR codec, which accepts both byte orders) with the
header stamp and the bag's receive time. Stamps that are not normalised (``nanosec >= 1e9``, as in
real bags) are normalised. Topics that are not images are skipped with a message; a bag without
an image topic, or a corrupt or truncated one, raises one BagError.

Writing goes to a temporary directory beside the target that is renamed when the writer closes
cleanly, so a crash never leaves a half-written bag under the final name. vision_msgs types are
registered from the .msg texts in ``video_perception/msg_defs`` (bags record definitions).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import pathlib
import shutil
from typing import Callable, Dict, Iterator, List, Optional, Union

from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg, get_typestore, Stores

from video_perception import msgs
from video_perception.transport import cdr

MSG_DEFS = pathlib.Path(__file__).parent / 'msg_defs'
IMAGE_TYPE_NAMES = {cls.__ros_type__: cls for cls in msgs.IMAGE_TYPES}


class BagError(ValueError):
    """A bag that cannot be used: missing, corrupt, truncated, or without image topics."""


@dataclasses.dataclass
class BagTopic:
    name: str
    msgtype: str
    count: int


@dataclasses.dataclass
class BagImage:
    """One image of a bag: our message, its topic, the bag receive time and the header stamp."""

    topic: str
    receive_ns: int
    stamp_ns: int
    msg: Union[msgs.Image, msgs.CompressedImage]


@functools.lru_cache(maxsize=1)
def typestore():
    """rosbags' Humble typestore plus vision_msgs 4.x from our .msg texts."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    types = {}
    for path in sorted(MSG_DEFS.glob('*.msg')):
        types.update(get_types_from_msg(path.read_text(), f'vision_msgs/msg/{path.stem}'))
    store.register(types)
    return store


def normalise_stamp(stamp: msgs.Time) -> msgs.Time:
    """sec/nanosec with 0 <= nanosec < 1e9 (the same instant)."""
    return msgs.Time.from_ns(stamp.to_ns())


class BagReader:
    """An open rosbag2 (a directory with metadata.yaml, or one .db3/.mcap file)."""

    def __init__(self, path: Union[str, os.PathLike]):
        self.path = pathlib.Path(path)
        if not self.path.exists():
            raise BagError(f'bag {self.path}: no such file or directory')
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except Exception as exc:  # noqa: BLE001 - rosbags raises many kinds; one line for users
            raise BagError(f'bag {self.path}: cannot open ({_one_line(exc)})') from None

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> 'BagReader':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def topics(self) -> List[BagTopic]:
        counts: Dict[str, int] = {}
        types: Dict[str, str] = {}
        for conn in self._reader.connections:
            counts[conn.topic] = counts.get(conn.topic, 0) + conn.msgcount
            types[conn.topic] = conn.msgtype
        return [BagTopic(name, types[name], counts[name]) for name in sorted(types)]

    def image_topics(self) -> List[BagTopic]:
        return [t for t in self.topics() if t.msgtype in IMAGE_TYPE_NAMES]

    def images(self, topic: Optional[str] = None,
               on_skip: Optional[Callable[[str], None]] = None) -> Iterator[BagImage]:
        """Image messages in receive-time order (of ``topic`` if given, else of all image topics).

        ``on_skip`` receives one line per non-image topic that is skipped.

        Raises:
            BagError: no (such) image topic, or a message that cannot be decoded.
        """
        image_topics = self.image_topics()
        names = [t.name for t in image_topics]
        if not image_topics:
            listing = ', '.join(f'{t.name} ({t.msgtype})' for t in self.topics()) or 'none'
            raise BagError(f'bag {self.path}: no image topic (sensor_msgs/msg/Image or '
                           f'CompressedImage); topics: {listing}')
        if topic is not None and topic not in names:
            raise BagError(f"bag {self.path}: topic '{topic}' is not an image topic of this bag; "
                           f"image topics: {', '.join(names)}")
        wanted = [topic] if topic else names
        if on_skip is not None:
            for t in self.topics():
                if t.name not in wanted:
                    reason = ('not selected' if t.msgtype in IMAGE_TYPE_NAMES
                              else 'not an image topic')
                    on_skip(f'skipping {t.name} ({t.msgtype}): {reason}')
        conns = [c for c in self._reader.connections if c.topic in wanted]
        try:
            for conn, receive_ns, raw in self._reader.messages(connections=conns):
                msg = cdr.deserialize(raw, IMAGE_TYPE_NAMES[conn.msgtype])
                msg.header.stamp = normalise_stamp(msg.header.stamp)
                yield BagImage(conn.topic, int(receive_ns), msg.header.stamp.to_ns(), msg)
        except cdr.CdrError as exc:
            raise BagError(f'bag {self.path}: {exc}') from None
        except Exception as exc:  # noqa: BLE001 - truncated storage files fail deep in rosbags
            raise BagError(f'bag {self.path}: cannot read ({_one_line(exc)})') from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f'{type(exc).__name__}: {text[0]}' if text else type(exc).__name__


def open_bag(path: Union[str, os.PathLike]) -> BagReader:
    return BagReader(path)


class BagWriter:
    """Writes our messages with given receive times; see ``write_bag``."""

    def __init__(self, writer: Writer):
        self._writer = writer
        self._connections: Dict[str, object] = {}

    def write(self, topic: str, msg, receive_ns: int) -> None:
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(topic, msg.__ros_type__, typestore=typestore())
            self._connections[topic] = conn
        elif conn.msgtype != msg.__ros_type__:
            raise BagError(f'topic {topic} is {conn.msgtype}, cannot write {msg.__ros_type__}')
        self._writer.write(conn, int(receive_ns), cdr.serialize(msg))


@contextlib.contextmanager
def write_bag(path: Union[str, os.PathLike], storage: str = 'sqlite3',
              version: int = 9) -> Iterator[BagWriter]:
    """Context manager writing a rosbag2 directory at ``path`` (which must not exist).

    Args:
        storage: 'sqlite3' (Humble's default) or 'mcap' (Iron+).
        version: rosbag2 metadata version (8 or 9, what rosbags writes).
    """
    plugins = {'sqlite3': StoragePlugin.SQLITE3, 'mcap': StoragePlugin.MCAP}
    if storage not in plugins:
        raise BagError(f"bag storage '{storage}': expected sqlite3 or mcap")
    final = pathlib.Path(path)
    if final.exists():
        raise BagError(f'bag {final}: already exists')
    tmp = final.parent / f'.{final.name}.tmp-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    writer = Writer(tmp, version=version, storage_plugin=plugins[storage])
    try:
        writer.open()
        yield BagWriter(writer)
        writer.close()
    except BaseException:
        with contextlib.suppress(Exception):
            writer.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # rosbags names the storage file after the directory; keep it consistent with the final name
    for child in tmp.iterdir():
        if child.name.startswith(tmp.name):
            child.rename(tmp / (final.name + child.name[len(tmp.name):]))
    _fix_metadata_names(tmp / 'metadata.yaml', tmp.name, final.name)
    os.replace(tmp, final)


def _fix_metadata_names(meta: pathlib.Path, old: str, new: str) -> None:
    if meta.exists():
        meta.write_text(meta.read_text().replace(old, new))
