"""rosbag2 reading and writing with ``rosbags`` (sqlite3 and mcap, metadata v4..v9).

Reading gives image messages (sensor_msgs/Image and CompressedImage) as our message classes
(``video_perception.msgs``, decoded by our CDR codec, which accepts both byte orders) with the
header stamp and the bag's receive time. Stamps that are not normalised (``nanosec >= 1e9``, as in
real bags) are normalised. Topics that are not images are skipped with a message; a bag without
an image topic, or a corrupt or truncated one, raises one BagError.

Writing goes to a temporary directory beside the target that is renamed when the writer closes
cleanly, so a crash never leaves a half-written bag under the final name. vision_msgs types are
registered from the .msg texts in ``video_perception/msg_defs`` (bags record definitions).

Written bags default to metadata version 5, the newest that Humble's rosbag2 parses: Jazzy
switched ``offered_qos_profiles`` to a YAML list in version 9, which Humble's yaml-cpp refuses
("bad conversion", ros2/rosbag2#2013), while every later distro reads Humble's bags. rosbags only
writes versions 8 and 9, so a version 5 bag is written as 8 (QoS as a string, as in 5) and then
brought to Humble's layout: metadata.yaml and the copy the storage embeds hold only the version 5
fields, and a sqlite3 file gets Humble's schema 3 (no ``type_description_hash`` column, no
``message_definitions`` table). An mcap bag needs ``ros-humble-rosbag2-storage-mcap`` on Humble.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import pathlib
import shutil
import sqlite3
from typing import Callable, Dict, Iterator, List, Optional, Union

from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import get_types_from_msg, get_typestore, Stores
import yaml

from video_perception import msgs
from video_perception.transport import cdr

MSG_DEFS = pathlib.Path(__file__).parent / 'msg_defs'
IMAGE_TYPE_NAMES = {cls.__ros_type__: cls for cls in msgs.IMAGE_TYPES}
BAG_VERSIONS = (5, 8, 9)  # 5: Humble and later; 8: Iron and later; 9: Jazzy and later
DEFAULT_BAG_VERSION = 5
# the fields Humble's rosbag2_storage (metadata version 5) reads and writes
_V5_KEYS = ('version', 'storage_identifier', 'duration', 'starting_time', 'message_count',
            'topics_with_message_count', 'compression_format', 'compression_mode',
            'relative_file_paths', 'files')
_V5_TOPIC_KEYS = ('name', 'type', 'serialization_format', 'offered_qos_profiles')


class BagError(ValueError):
    """A bag that cannot be used: missing, corrupt, truncated, or without image topics."""


class BagWriteError(OSError):
    """Writing a bag failed (a full disk, a write error, a failed commit); names bag and cause."""


def _write_failed(path, exc: BaseException) -> BagWriteError:
    cause = (str(exc).strip().splitlines() or [''])[0]
    return BagWriteError(f'bag {path}: cannot write ({type(exc).__name__}: {cause})')


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

    def __init__(self, writer: Writer, path=None):
        self._writer, self._path = writer, path
        self._connections: Dict[str, object] = {}

    def write(self, topic: str, msg, receive_ns: int) -> None:
        conn = self._connections.get(topic)
        if conn is not None and conn.msgtype != msg.__ros_type__:
            raise BagError(f'topic {topic} is {conn.msgtype}, cannot write {msg.__ros_type__}')
        data = cdr.serialize(msg)
        try:  # a full disk: sqlite3 / mcap / OSError, one error naming the bag
            if conn is None:
                conn = self._writer.add_connection(topic, msg.__ros_type__, typestore=typestore())
                self._connections[topic] = conn
            self._writer.write(conn, int(receive_ns), data)
        except Exception as exc:  # noqa: BLE001 - whatever the storage plugin raises
            raise _write_failed(self._path, exc) from exc


@contextlib.contextmanager
def write_bag(path: Union[str, os.PathLike], storage: str = 'sqlite3',
              version: int = DEFAULT_BAG_VERSION) -> Iterator[BagWriter]:
    """Context manager writing a rosbag2 directory at ``path`` (which must not exist).

    Args:
        storage: 'sqlite3' (Humble's default) or 'mcap' (Iron+; Humble with the mcap plugin).
        version: rosbag2 metadata version: 5 (default; Humble, Iron and Jazzy ``ros2 bag play``
            read it), 8 or 9 (Jazzy's own; Humble cannot read 9).
    """
    plugins = {'sqlite3': StoragePlugin.SQLITE3, 'mcap': StoragePlugin.MCAP}
    if storage not in plugins:
        raise BagError(f"bag storage '{storage}': expected sqlite3 or mcap")
    if version not in BAG_VERSIONS:
        raise BagError(f'bag version {version}: expected one of '
                       f"{', '.join(map(str, BAG_VERSIONS))}")
    final = pathlib.Path(path)
    if final.exists():
        raise BagError(f'bag {final}: already exists')
    tmp = final.parent / f'.{final.name}.tmp-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    writer = Writer(tmp, version=max(version, 8), storage_plugin=plugins[storage])
    try:
        try:
            writer.open()
            if version < 8:
                _embed_v5_metadata(writer, tmp.name, final.name)
        except Exception as exc:  # noqa: BLE001 - a full disk or an unwritable folder
            raise _write_failed(final, exc) from exc
        yield BagWriter(writer, final)
        try:  # the commit: sqlite writes its last pages, mcap its summary, here
            writer.close()
            if version < 8:
                _downgrade_to_v5(tmp)
            # rosbags names the storage file after the directory; keep it the final name
            for child in tmp.iterdir():
                if child.name.startswith(tmp.name):
                    child.rename(tmp / (final.name + child.name[len(tmp.name):]))
            _fix_metadata_names(tmp / 'metadata.yaml', tmp.name, final.name)
        except Exception as exc:  # noqa: BLE001
            raise _write_failed(final, exc) from exc
    except BaseException:
        with contextlib.suppress(Exception):
            writer.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.replace(tmp, final)


def _fix_metadata_names(meta: pathlib.Path, old: str, new: str) -> None:
    if meta.exists():
        meta.write_text(meta.read_text().replace(old, new))


def metadata_v5(info: dict) -> dict:
    """Version 8/9 ``rosbag2_bagfile_information`` reduced to what version 5 holds.

    The QoS profiles must already be a string (version 8 writes them so; 9's lists are not
    converted).
    """
    out = {key: info[key] for key in _V5_KEYS if key in info}
    out['version'] = 5
    out['topics_with_message_count'] = [
        {'topic_metadata': {key: t['topic_metadata'][key] for key in _V5_TOPIC_KEYS},
         'message_count': t['message_count']}
        for t in info['topics_with_message_count']]
    return out


def _dump_yaml(data: dict) -> str:
    return yaml.safe_dump(data, default_flow_style=False, sort_keys=False)


def _embed_v5_metadata(writer: Writer, tmp_name: str, final_name: str) -> None:
    """Makes the storage embed version 5 metadata (db3 ``metadata`` table, mcap record).

    The embedded copy names the files as they will be called after the final rename.
    """
    storage = writer.storage
    close = storage.close

    def close_v5(_version: int, text: str) -> None:
        info = metadata_v5(yaml.safe_load(text.replace(tmp_name, final_name)))
        close(5, _dump_yaml(info).strip())
    storage.close = close_v5


def _downgrade_to_v5(bag: pathlib.Path) -> None:
    """metadata.yaml in version 5 layout; a .db3 in Humble's sqlite schema 3."""
    meta = bag / 'metadata.yaml'
    data = yaml.safe_load(meta.read_text())
    data['rosbag2_bagfile_information'] = metadata_v5(data['rosbag2_bagfile_information'])
    meta.write_text(_dump_yaml(data))
    for db in bag.glob('*.db3'):
        conn = sqlite3.connect(db)
        try:
            # schema 4 -> 3 as Humble writes it: topics without the hash, no definitions table
            conn.executescript('ALTER TABLE topics DROP COLUMN type_description_hash;'
                               'DROP TABLE message_definitions;'
                               'UPDATE schema SET schema_version = 3;')
            conn.commit()
            conn.execute('VACUUM')
        finally:
            conn.close()
