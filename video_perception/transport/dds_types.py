"""cyclonedds IDL types mirroring ``video_perception.msgs``, named as rmw names them.

For each message class we build an ``IdlStruct`` named ``pkg::msg::dds_::Name_`` (``@final``,
keyless, fields in .msg order with the IDL types rosidl would generate) so the topic's type name
and XTypes type object are those of a ROS 2 participant. The payload itself is not produced by
cyclonedds' Python serialiser (tens of ms for a full-HD frame) but by ``cdr.serialize`` /
``cdr.deserialize``: the struct's ``serialize``/``deserialize`` are overridden, and the writer is
handed a carrier instance that holds our message. The bytes are XCDR1 with header ``00 01 00 00``.
"""
from __future__ import annotations

import dataclasses
import types as pytypes
from typing import Dict

from cyclonedds.idl import IdlStruct
from cyclonedds.idl import annotations as annotate
from cyclonedds.idl import types as t

from video_perception.msgs import Arr, Seq
from video_perception.transport import cdr

_IDL_PRIMITIVES = {
    'bool': bool, 'byte': t.byte, 'char': t.char, 'int8': t.int8, 'uint8': t.uint8,
    'int16': t.int16, 'uint16': t.uint16, 'int32': t.int32, 'uint32': t.uint32,
    'int64': t.int64, 'uint64': t.uint64, 'float32': t.float32, 'float64': t.float64,
    'string': str,
}

_DDS_TYPES: Dict[type, type] = {}


def _idl_type(ftype):
    if isinstance(ftype, str):
        return _IDL_PRIMITIVES[ftype]
    if isinstance(ftype, Seq):
        return t.sequence[_idl_type(ftype.elem)]
    if isinstance(ftype, Arr):
        return t.array[_idl_type(ftype.elem), ftype.length]
    return dds_type(ftype)


def dds_type(msg_cls: type) -> type:
    """The cyclonedds topic type for one of our message classes (built once, cached)."""
    if msg_cls in _DDS_TYPES:
        return _DDS_TYPES[msg_cls]
    pkg, kind, name = msg_cls.__ros_type__.split('/')
    annotations = {fname: _idl_type(ftype) for fname, ftype in msg_cls.__ros_fields__}

    def body(ns):
        ns['__annotations__'].update(annotations)
        ns['__module__'] = __name__
        ns['serialize'] = _serialize
        ns['deserialize'] = classmethod(_deserialize)
        ns['__ros_class__'] = msg_cls

    # cyclonedds turns '.' in typename into '::' for the DDS type name
    cls = pytypes.new_class(f'{name}_', (IdlStruct,), {'typename': f'{pkg}.{kind}.dds_.{name}_'},
                            body)
    cls = annotate.final(dataclasses.dataclass(cls))
    _DDS_TYPES[msg_cls] = cls
    return cls


def ros_type_of(dds_type_name: str) -> str:
    """'sensor_msgs::msg::dds_::Image_' (as discovery reports it) -> 'sensor_msgs/msg/Image'."""
    parts = dds_type_name.split('::')
    if len(parts) == 4 and parts[2] == 'dds_' and parts[3].endswith('_'):
        return f'{parts[0]}/{parts[1]}/{parts[3][:-1]}'
    return dds_type_name      # not a ROS type: shown as DDS names it


def _serialize(self, buffer=None, endianness=None, use_version_2=None) -> bytes:
    return cdr.serialize(self._msg)


def _deserialize(cls, data, has_header=True, use_version_2=None):
    return cdr.deserialize(data, cls.__ros_class__)


def carrier(msg) -> object:
    """An instance of the DDS type of ``msg`` that serialises to ``msg``'s CDR bytes."""
    cls = dds_type(type(msg))
    obj = cls.__new__(cls)
    obj._msg = msg
    return obj
