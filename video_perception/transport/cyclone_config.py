"""Cyclone DDS XML matching what rmw_cyclonedds generates for the ROS discovery settings.

``ROS_AUTOMATIC_DISCOVERY_RANGE`` (Iron+) or, when unset, Humble's ``ROS_LOCALHOST_ONLY=1``
decide the discovery scope (specs/ros2.md section 4.6):

- SUBNET (default): multicast as the interface allows, participant index auto (max 32), static
  peers; we also add ``localhost`` as a peer so that processes on one host find each other where
  the interface has no multicast (containers, CI) - an extra unicast SPDP target, harmless.
- LOCALHOST: the loopback interface only, no multicast, peer ``localhost`` + static peers
  (multicast is usually absent on ``lo`` anyway: no IFF_MULTICAST there in containers).
- OFF: no multicast, no participant index and a per-process domain tag: nothing matches.
- SYSTEM_DEFAULT: Cyclone's defaults untouched.

``CYCLONEDDS_URI`` from the environment is appended last, as rmw_cyclonedds does, so a user's own
file can still override anything.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional
from xml.sax.saxutils import quoteattr

RANGES = ('SUBNET', 'LOCALHOST', 'OFF', 'SYSTEM_DEFAULT')


def discovery_range(env: Mapping[str, str] = os.environ) -> str:
    """The effective discovery range from the environment (ValueError on an unknown value)."""
    value = env.get('ROS_AUTOMATIC_DISCOVERY_RANGE', '').strip().upper()
    if value:
        if value not in RANGES:
            raise ValueError(f"ROS_AUTOMATIC_DISCOVERY_RANGE='{value}': expected one of "
                             f"{', '.join(RANGES)}")
        return value
    if env.get('ROS_LOCALHOST_ONLY', '').strip() == '1':
        return 'LOCALHOST'
    return 'SUBNET'


def domain_id(env: Mapping[str, str] = os.environ) -> int:
    """ROS_DOMAIN_ID (default 0); ValueError when it is not an integer in 0..232."""
    text = env.get('ROS_DOMAIN_ID', '').strip()
    if not text:
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"ROS_DOMAIN_ID='{text}': expected an integer 0..232") from None
    if not 0 <= value <= 232:
        raise ValueError(f"ROS_DOMAIN_ID={value}: expected an integer 0..232")
    return value


def cyclone_xml(env: Mapping[str, str] = os.environ, pid: Optional[int] = None) -> Optional[str]:
    """The Cyclone config string for this environment, or None for SYSTEM_DEFAULT w/o a URI."""
    scope = discovery_range(env)
    peers = [p.strip() for p in env.get('ROS_STATIC_PEERS', '').split(';') if p.strip()]
    general, discovery = [], []
    if scope == 'SUBNET':
        discovery += ['<ParticipantIndex>auto</ParticipantIndex>',
                      '<MaxAutoParticipantIndex>32</MaxAutoParticipantIndex>']
        peers = ['localhost'] + peers
    elif scope == 'LOCALHOST':
        # loopback's MTU is 64 KiB: big datagrams and fragments cut the per-packet work of a
        # 7 MB frame ~40x (Cyclone's defaults, 14720 B / 1344 B, suit a 1500 B Ethernet MTU)
        general += ['<Interfaces><NetworkInterface address="127.0.0.1"/></Interfaces>',
                    '<AllowMulticast>false</AllowMulticast>',
                    '<MaxMessageSize>65500B</MaxMessageSize>',
                    '<FragmentSize>60000B</FragmentSize>']
        discovery += ['<ParticipantIndex>auto</ParticipantIndex>',
                      '<MaxAutoParticipantIndex>32</MaxAutoParticipantIndex>']
        peers = ['localhost'] + peers
    elif scope == 'OFF':
        general += ['<AllowMulticast>false</AllowMulticast>']
        discovery += ['<ParticipantIndex>none</ParticipantIndex>',
                      f'<Tag>ros_discovery_off_{pid or os.getpid()}</Tag>']
        peers = []
    parts = []
    if scope != 'SYSTEM_DEFAULT':
        if peers:
            discovery.append('<Peers>' + ''.join(f'<Peer address={quoteattr(p)}/>'
                                                 for p in peers) + '</Peers>')
        # camera frames are megabytes: ask for a large receive buffer (capped by the kernel's
        # net.core.rmem_max without error; 'min' is left default so nothing fails)
        internal = '<Internal><SocketReceiveBufferSize max="16MB"/></Internal>'
        parts.append('<CycloneDDS><Domain Id="any">'
                     + (f'<General>{"".join(general)}</General>' if general else '')
                     + f'<Discovery>{"".join(discovery)}</Discovery>' + internal
                     + '</Domain></CycloneDDS>')
    user_uri = env.get('CYCLONEDDS_URI', '').strip()
    if user_uri:
        parts.append(user_uri)
    return ','.join(parts) if parts else None
