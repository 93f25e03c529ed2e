"""Node attribution for the DDS transport: ``ros_discovery_info`` (rmw_dds_common).

A ROS 2 rmw learns which node owns which reader and writer from the ``ros_discovery_info`` topic
(no ``rt/`` prefix), where every participant publishes one ``ParticipantEntitiesInfo``: its gid
and, per node, the namespace, the name and the gids of the node's readers and writers (specs/
ros2.md section 4.5). Without it ``ros2 node list`` does not show a DDS-transport node and its
endpoints belong to ``_NODE_NAME_UNKNOWN_``. A gid is the DDS GUID (12-byte prefix, 4-byte entity
id), zero-padded to the distro's Gid size (``GID_SIZE`` below).
The writer is RELIABLE, TRANSIENT_LOCAL, KEEP_LAST 1, as rmw's; each change republishes the
whole participant (the latest sample replaces the previous one in every graph cache).
"""
from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import field
from typing import List

from cyclonedds.pub import DataWriter
from cyclonedds.topic import Topic

from video_perception.msgs import Arr, Seq
from video_perception.transport import dds_types

TOPIC = 'ros_discovery_info'
# rmw_dds_common 3.x (Iron, Jazzy, Rolling): 16; Humble's 1.x: 24. ROS_DISTRO is set by a sourced
# ROS 2; without one (no ROS here, or the Jazzy wheels) the current layout.
GID_SIZE = 24 if os.environ.get('ROS_DISTRO', '').strip().lower() == 'humble' else 16


def _schema(ros_type: str, fields):
    """``msgs``' schema attributes, without entering these rmw-internal types in
    ``msgs.MESSAGE_TYPES`` (the user-facing types: echo, bags)."""
    def wrap(cls):
        cls.__ros_type__, cls.__ros_fields__ = ros_type, fields
        return cls
    return wrap


@_schema('rmw_dds_common/msg/Gid', (('data', Arr('uint8', GID_SIZE)),))
@dataclasses.dataclass
class Gid:
    data: List[int] = field(default_factory=lambda: [0] * GID_SIZE)


@_schema('rmw_dds_common/msg/NodeEntitiesInfo', (
    ('node_namespace', 'string'), ('node_name', 'string'),
    ('reader_gid_seq', Seq(Gid)), ('writer_gid_seq', Seq(Gid))))
@dataclasses.dataclass
class NodeEntitiesInfo:
    node_namespace: str = '/'
    node_name: str = ''
    reader_gid_seq: List[Gid] = field(default_factory=list)
    writer_gid_seq: List[Gid] = field(default_factory=list)


@_schema('rmw_dds_common/msg/ParticipantEntitiesInfo', (
    ('gid', Gid), ('node_entities_info_seq', Seq(NodeEntitiesInfo))))
@dataclasses.dataclass
class ParticipantEntitiesInfo:
    gid: Gid = field(default_factory=Gid)
    node_entities_info_seq: List[NodeEntitiesInfo] = field(default_factory=list)


def gid_of(entity) -> Gid:
    """The rmw gid of a cyclonedds entity: its GUID bytes, zero-padded to GID_SIZE."""
    raw = entity.guid.bytes
    return Gid(data=list(raw[:GID_SIZE]) + [0] * (GID_SIZE - len(raw)))


class GraphAnnouncer:
    """Publishes this participant's one node and its endpoints on ``ros_discovery_info``."""

    def __init__(self, participant, namespace: str, node_name: str, writer_qos):
        self._lock = threading.Lock()
        self._info = ParticipantEntitiesInfo(gid=gid_of(participant), node_entities_info_seq=[
            NodeEntitiesInfo(node_namespace=namespace, node_name=node_name)])
        topic = Topic(participant, TOPIC, dds_types.dds_type(ParticipantEntitiesInfo))
        self._writer = DataWriter(participant, topic, qos=writer_qos)
        self._writer.write(dds_types.carrier(self._info))

    def add(self, entity, is_writer: bool) -> None:
        """Announce a new reader or writer of the node."""
        node = self._info.node_entities_info_seq[0]
        with self._lock:
            (node.writer_gid_seq if is_writer else node.reader_gid_seq).append(gid_of(entity))
            self._writer.write(dds_types.carrier(self._info))
