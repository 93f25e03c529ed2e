"""DDS entities made as rmw_cyclonedds makes them, for the DDS transport and its tools: the ROS
QoS profile as DDS policies (``dds_qos``), a participant on ``ROS_DOMAIN_ID`` with the ROS
discovery config and ``enclave=/;`` (``open_participant``), the ``Publisher`` and
``Subscription`` a ``DdsTransport`` hands out around a DataWriter / DataReader (matched peers,
samples lost, the types other publishers on the topic declare), waiting for a match, and the
explicit delete cyclonedds needs (``delete_entity``).
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Dict, List

from cyclonedds.builtin import DcpsEndpoint
from cyclonedds.core import Policy, Qos
from cyclonedds.domain import Domain, DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.util import duration

from video_perception.transport import cyclone_config, dds_types
from video_perception.transport.base import Durability, Publisher, QoS, Reliability, Subscription

_DOMAINS: Dict[int, Domain] = {}
_DOMAINS_LOCK = threading.Lock()


def dds_qos(qos: QoS, writer: bool) -> Qos:
    """rmw_cyclonedds' mapping of a ROS QoS profile (KEEP_LAST) to DDS policies."""
    policies = [Policy.History.KeepLast(max(1, qos.depth))]
    if qos.reliability is Reliability.RELIABLE:
        policies.append(Policy.Reliability.Reliable(duration(infinite=True)))
    else:
        policies.append(Policy.Reliability.BestEffort)
    if qos.durability is Durability.TRANSIENT_LOCAL:
        policies.append(Policy.Durability.TransientLocal)
        policies.append(Policy.DurabilityService(
            cleanup_delay=0, history=Policy.History.KeepLast(max(1, qos.depth)),
            max_samples=-1, max_instances=-1, max_samples_per_instance=-1))
    else:
        policies.append(Policy.Durability.Volatile)
    if writer:
        policies.append(Policy.WriterDataLifecycle(autodispose=False))
    # XCDR1 only, as rmw_cyclonedds restricts its sertype
    policies.append(Policy.DataRepresentation(use_cdrv0_representation=True))
    return Qos(*policies)


def open_participant(env=os.environ) -> DomainParticipant:
    """A participant on ROS_DOMAIN_ID with the ROS discovery config and ``enclave=/;``."""
    domain = cyclone_config.domain_id(env)
    with _DOMAINS_LOCK:
        if domain not in _DOMAINS:
            _DOMAINS[domain] = cyclone_config.open_domain(domain, env)
    return DomainParticipant(domain, qos=Qos(Policy.Userdata(b'enclave=/;')))


class DdsPublisher(Publisher):
    def __init__(self, writer: DataWriter, msg_type: type, topic: str):
        self._writer, self._type, self.topic = writer, msg_type, topic

    def publish(self, msg: Any) -> None:
        if not isinstance(msg, self._type):
            raise TypeError(f'publisher on {self.topic} takes {self._type.__ros_type__}, '
                            f'got {type(msg).__name__}')
        self._writer.write(dds_types.carrier(msg))

    def matched(self) -> int:
        """How many subscriptions this publisher currently reaches."""
        return len(self._writer.get_matched_subscriptions()) if self._writer else 0

    def close(self) -> None:
        delete_entity(self._writer)
        self._writer = None


class DdsSubscription(Subscription):
    def __init__(self, reader: DataReader, topic_name: str, publications):
        self._reader = reader
        self.topic_name = topic_name
        self._publications = publications      # the participant's DCPSPublication reader

    def on_sample_lost(self, _reader, status) -> None:
        self.lost = int(status.total_count)

    def publisher_types(self) -> List[str]:
        dds_name = 'rt' + self.topic_name
        return [dds_types.ros_type_of(p.type_name)
                for p in self._publications.read(N=256)
                if isinstance(p, DcpsEndpoint) and p.topic_name == dds_name]

    def matched(self) -> int:
        return len(self._reader.get_matched_publications()) if self._reader else 0

    def close(self) -> None:
        delete_entity(self._reader)
        self._reader = None


def delete_entity(entity) -> None:
    # cyclonedds keeps every entity in a class-level registry, so dropping our reference does not
    # free it; its __del__ removes it from the registry and calls dds_delete.
    if entity is not None:
        entity.__del__()


def wait_for_match(entity, timeout: float) -> bool:
    """Wait until a DataWriter/DataReader has a matched peer (discovery takes ~0.1-1 s)."""
    get = (entity.get_matched_subscriptions if isinstance(entity, DataWriter)
           else entity.get_matched_publications)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if get():
            return True
        time.sleep(0.05)
    return False
