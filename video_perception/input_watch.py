"""What the transport knows about a node's input that the node's own counters cannot see.

A frame the node never received leaves no trace in its counts: a large raw image over
best-effort QoS lost on the wire, or a publisher of ``CompressedImage`` on a topic where the node
subscribed ``Image`` (the DDS types differ, so the two never match and nothing arrives). The
transports report both from the middleware: the reader's sample-lost status, and the message
types of the publishers that discovery found on the subscribed topic. ``InputWatch`` turns them
into diagnostics values and one log line per foreign type, polled from the diagnostics thread
(1 Hz), so the image callback stays as cheap as it was.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Tuple

from video_perception.transport.base import Subscription


class InputWatch:
    """Lost samples and publishers of another type on one subscription.

    Args:
        subscription: the transport's subscription (``lost``, ``publisher_types()``).
        expected: the ROS type the node subscribed, e.g. ``sensor_msgs/msg/Image``.
        warn: where the one line per foreign type goes (the node's logger).
        hints: ROS type -> what the user can set to receive it (``input_type:=compressed``).
    """

    def __init__(self, subscription: Subscription, expected: str, warn: Callable[[str], None],
                 hints: Dict[str, str] = None):
        self.sub, self.expected, self.warn = subscription, expected, warn
        self.hints = dict(hints or {})
        self._told: set = set()
        self.foreign: List[str] = []

    def poll(self) -> List[Tuple[str, str]]:
        """Diagnostics values; warns once for each foreign type seen."""
        try:
            types = self.sub.publisher_types()
        except Exception:  # noqa: BLE001 - a graph query on a closing transport is no news
            types = []
        self.foreign = sorted({t for t in types if t != self.expected})
        for other in self.foreign:
            if other not in self._told:
                self._told.add(other)
                hint = self.hints.get(other)
                self.warn(f'{self.sub.topic_name}: a publisher sends {other} but this node takes '
                          f'{self.expected}, so its messages never arrive'
                          + (f' (set {hint} to take them)' if hint else ''))
        return [('frames_lost_in_transport', str(int(self.sub.lost))),
                ('publishers_of_other_types', str(len(self.foreign)))]
