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
file can still override anything. Unlike rmw_cyclonedds we first read the user's config and drop
every setting of ours that it also sets: Cyclone *adds up* list settings (network interfaces,
peers), so our ``127.0.0.1`` next to a user's ``<NetworkInterface name="lo"/>`` selects ``lo``
twice and Cyclone refuses to start. A missing file or malformed XML in ``CYCLONEDDS_URI`` is a
ValueError naming it, before Cyclone sees it.
"""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import List, Mapping, Optional, Set, Tuple
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
    user_uri = env.get('CYCLONEDDS_URI', '').strip()
    parts = []
    if scope != 'SYSTEM_DEFAULT':
        if peers:
            discovery.append('<Peers>' + ''.join(f'<Peer address={quoteattr(p)}/>'
                                                 for p in peers) + '</Peers>')
        # camera frames are megabytes: ask for a large receive buffer (capped by the kernel's
        # net.core.rmem_max without error; 'min' is left default so nothing fails)
        internal = '<Internal><SocketReceiveBufferSize max="16MB"/></Internal>'
        ours = ('<CycloneDDS><Domain Id="any">'
                + (f'<General>{"".join(general)}</General>' if general else '')
                + f'<Discovery>{"".join(discovery)}</Discovery>' + internal
                + '</Domain></CycloneDDS>')
        if user_uri:
            ours = _without(ours, _user_settings(user_uri, domain_id(env)))
        parts.append(ours)
    elif user_uri:
        _user_settings(user_uri, domain_id(env))  # only to name a bad file in one line
    if user_uri:
        parts.append(user_uri)
    return ','.join(parts) if parts else None


def open_domain(domain: int, env: Mapping[str, str] = os.environ):
    """The cyclonedds ``Domain`` for ``domain`` with ``cyclone_xml(env)``.

    Raises:
        ValueError: one line naming the environment variable when Cyclone refuses the config
            (an unknown interface name, a bad value in the user's file ...).
    """
    from cyclonedds.core import DDSException
    from cyclonedds.domain import Domain
    config = cyclone_xml(env)
    try:
        return Domain(domain, config)
    except DDSException:
        # Cyclone has logged the reason on stderr already; its exception says nothing more
        source = 'CYCLONEDDS_URI' if env.get('CYCLONEDDS_URI', '').strip() else 'ROS_* settings'
        raise ValueError(f'{source}: Cyclone DDS refused the configuration; expected '
                         f'settings Cyclone accepts (its reason is logged above)') from None


# Settings that Cyclone accumulates over all the configs it is given: when the user sets one, ours
# goes whole. The older NetworkInterfaceAddress selects an interface as Interfaces does.
_LIST_SETTINGS = {('general', 'interfaces'), ('discovery', 'peers')}
_SAME_AS = {('general', 'networkinterfaceaddress'): ('general', 'interfaces')}


def _local(tag: str) -> str:
    """An element's name without namespace, lower case (Cyclone matches names case-blind)."""
    return tag.rsplit('}', 1)[-1].lower()


def _uri_items(uri: str) -> List[str]:
    """CYCLONEDDS_URI split on commas as Cyclone does, keeping commas inside inline XML."""
    items, pending = [], ''
    for piece in uri.split(','):
        pending = f'{pending},{piece}' if pending else piece
        text = pending.strip()
        if text.startswith('<'):
            try:
                ET.fromstring(text)
            except ET.ParseError:
                continue  # maybe a comma inside the XML: take the next piece too
        if text:
            items.append(text)
        pending = ''
    if pending.strip():
        items.append(pending.strip())  # inline XML that never parsed: reported by the caller
    return items


def _parse_item(item: str) -> ET.Element:
    """One CYCLONEDDS_URI entry (inline XML or a file, ``file://`` optional) parsed."""
    if item.startswith('<'):
        where, text = 'inline XML', item
    else:
        path = os.path.expandvars(item[len('file://'):] if item.startswith('file://') else item)
        where = f'file {path!r}'
        try:
            with open(path, encoding='utf-8') as f:
                text = f.read()
        except OSError as exc:
            raise ValueError(f'CYCLONEDDS_URI={item!r}: cannot read {where} '
                             f'({exc.strerror or exc}); expected a Cyclone DDS XML file, '
                             f'file://PATH or inline <CycloneDDS> XML') from None
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f'CYCLONEDDS_URI: {where} is not well-formed XML ({exc}); '
                         f'expected a Cyclone DDS configuration') from None


def _user_settings(uri: str, domain: int) -> Set[Tuple[str, ...]]:
    """The element paths below ``Domain`` that the user's configs set for ``domain``."""
    paths: Set[Tuple[str, ...]] = set()

    def walk(element: ET.Element, prefix: Tuple[str, ...]) -> None:
        for child in element:
            if isinstance(child.tag, str):
                path = prefix + (_local(child.tag),)
                paths.add(_SAME_AS.get(path, path))
                walk(child, path)

    for item in _uri_items(uri):
        root = _parse_item(item)
        name = _local(root.tag)
        if name == 'cyclonedds':
            domains = [d for d in root if isinstance(d.tag, str) and _local(d.tag) == 'domain']
        elif name == 'domain':
            domains = [root]
        else:  # Cyclone also takes a bare <General>... with CycloneDDS/Domain left out
            paths.add((name,))
            walk(root, (name,))
            continue
        for d in domains:
            if d.get('Id', d.get('id', 'any')).strip().lower() in ('any', str(domain)):
                walk(d, ())
    return paths


def _without(ours: str, user: Set[Tuple[str, ...]]) -> str:
    """Our config less every single setting (leaf) or list setting that the user's config sets."""
    root = ET.fromstring(ours)

    def prune(element: ET.Element, prefix: Tuple[str, ...]) -> None:
        for child in list(element):
            path = prefix + (_local(child.tag),)
            if path in user and (len(child) == 0 or path in _LIST_SETTINGS):
                element.remove(child)
                continue
            prune(child, path)
            if len(child) == 0 and not child.attrib and not (child.text or '').strip():
                element.remove(child)  # a group left empty

    prune(root.find('Domain'), ())
    return ET.tostring(root, encoding='unicode')
