"""ROS 2 CDR (XCDR1, plain CDR) encoding of the ``video_perception.msgs`` classes.

The wire format ROS 2 uses on DDS and in rosbag2 (specs/ros2.md section 4.4): a 4-byte
encapsulation header (``00 01 00 00`` little-endian, ``00 00 00 00`` big-endian), then the fields
in .msg order, each primitive aligned to its own size relative to the first byte after the header,
strings as uint32 length (NUL included) + bytes + NUL, sequences as uint32 count + elements, fixed
arrays without a count. Serialising writes little-endian; deserialising reads both byte orders.

``uint8[]`` fields are copied as one block (no per-byte Python work), so a 1920x1200 bgr8 Image
costs one memcpy each way. Codecs are built once per class from ``__ros_fields__``.
"""
from __future__ import annotations

import struct
from typing import Any, Callable, Dict, List, Tuple

from video_perception.msgs import Arr, Seq

ENCAPSULATION_LE = b'\x00\x01\x00\x00'

# primitive -> (struct code, size)
_PRIMITIVES = {
    'bool': ('?', 1), 'byte': ('B', 1), 'char': ('B', 1), 'int8': ('b', 1), 'uint8': ('B', 1),
    'int16': ('h', 2), 'uint16': ('H', 2), 'int32': ('i', 4), 'uint32': ('I', 4),
    'int64': ('q', 8), 'uint64': ('Q', 8), 'float32': ('f', 4), 'float64': ('d', 8),
}


class CdrError(ValueError):
    """A payload that cannot be decoded as the expected type (truncated, bad header...)."""


class _Out:
    __slots__ = ('chunks', 'pos')

    def __init__(self):
        self.chunks: List[Any] = []
        self.pos = 0

    def align(self, size: int) -> None:
        pad = -self.pos % size
        if pad:
            self.chunks.append(b'\x00' * pad)
            self.pos += pad

    def put(self, data) -> None:
        self.chunks.append(data)
        self.pos += len(data)


class _In:
    __slots__ = ('buf', 'pos', 'end', 'order')

    def __init__(self, buf: memoryview, order: str):
        self.buf = buf
        self.pos = 4  # absolute offset; alignment is relative to pos - 4
        self.end = len(buf)
        self.order = order

    def align(self, size: int) -> None:
        self.pos += -(self.pos - 4) % size

    def take(self, n: int) -> int:
        start = self.pos
        if start + n > self.end:
            raise CdrError(f'CDR payload truncated: need {n} bytes at offset {start}, '
                           f'have {self.end - start}')
        self.pos = start + n
        return start


def as_bytes_view(value) -> memoryview:
    """A flat unsigned-byte view of any C-contiguous buffer (copied once when it is not)."""
    view = memoryview(value)
    if not view.c_contiguous:
        view = memoryview(bytes(view))
    return view.cast('B') if view.format != 'B' or view.ndim != 1 else view


def _prim_codec(name: str):
    code, size = _PRIMITIVES[name]
    fmt_le = struct.Struct('<' + code)
    fmt_be = struct.Struct('>' + code)

    def enc(out: _Out, value) -> None:
        out.align(size)
        if code in 'fd?':
            out.put(fmt_le.pack(value))
        elif isinstance(value, (bytes, bytearray)):  # rclpy's ``byte`` fields are bytes
            out.put(fmt_le.pack(value[0]))
        else:
            out.put(fmt_le.pack(int(value)))

    def dec(inp: _In):
        inp.align(size)
        at = inp.take(size)
        return (fmt_le if inp.order == '<' else fmt_be).unpack_from(inp.buf, at)[0]
    return enc, dec


def _string_enc(out: _Out, value: str) -> None:
    raw = value.encode('utf-8')
    out.align(4)
    out.put(struct.pack('<I', len(raw) + 1))
    out.put(raw + b'\x00')


def _string_dec(inp: _In) -> str:
    n = _read_count(inp)
    at = inp.take(n)
    if n == 0:  # some writers send an empty string as length 0
        return ''
    return bytes(inp.buf[at:at + n - 1]).decode('utf-8', errors='replace')


def _read_count(inp: _In) -> int:
    inp.align(4)
    at = inp.take(4)
    return struct.unpack_from(inp.order + 'I', inp.buf, at)[0]


def _bytes_enc(out: _Out, value) -> None:
    view = as_bytes_view(value)
    out.align(4)
    out.put(struct.pack('<I', view.nbytes))
    if view.nbytes:
        out.put(view)


def _bytes_dec(inp: _In) -> bytes:
    n = _read_count(inp)
    at = inp.take(n)
    return bytes(inp.buf[at:at + n])


def _prim_array_codec(name: str, length=None):
    """Codec for ``name[length]`` (fixed) or ``name[]`` (length None) of a non-byte primitive."""
    code, size = _PRIMITIVES[name]

    def enc(out: _Out, values) -> None:
        values = list(values)
        if length is None:
            out.align(4)
            out.put(struct.pack('<I', len(values)))
        elif len(values) != length:
            raise CdrError(f'fixed array of {name} needs {length} elements, got {len(values)}')
        if values:
            out.align(size)
            out.put(struct.pack(f'<{len(values)}{code}', *values))

    def dec(inp: _In):
        n = _read_count(inp) if length is None else length
        if not n:
            return []
        inp.align(size)
        at = inp.take(n * size)
        return list(struct.unpack_from(f'{inp.order}{n}{code}', inp.buf, at))
    return enc, dec


def _field_codec(ftype) -> Tuple[Callable, Callable]:
    if isinstance(ftype, str):
        if ftype == 'string':
            return _string_enc, _string_dec
        return _prim_codec(ftype)
    if isinstance(ftype, Seq):
        elem = ftype.elem
        if elem in ('uint8', 'byte', 'char'):
            return _bytes_enc, _bytes_dec
        if isinstance(elem, str) and elem != 'string':
            return _prim_array_codec(elem)
        elem_enc, elem_dec = _field_codec(elem)

        def seq_enc(out: _Out, values) -> None:
            out.align(4)
            out.put(struct.pack('<I', len(values)))
            for v in values:
                elem_enc(out, v)

        def seq_dec(inp: _In):
            n = _read_count(inp)
            if n > inp.end - inp.pos:  # every element takes at least one byte
                raise CdrError(f'CDR sequence count {n} exceeds the payload')
            return [elem_dec(inp) for _ in range(n)]
        return seq_enc, seq_dec
    if isinstance(ftype, Arr):
        if isinstance(ftype.elem, str) and ftype.elem != 'string':
            return _prim_array_codec(ftype.elem, ftype.length)
        elem_enc, elem_dec = _field_codec(ftype.elem)

        def arr_enc(out: _Out, values) -> None:
            if len(values) != ftype.length:
                raise CdrError(f'fixed array needs {ftype.length} elements, got {len(values)}')
            for v in values:
                elem_enc(out, v)

        def arr_dec(inp: _In):
            return [elem_dec(inp) for _ in range(ftype.length)]
        return arr_enc, arr_dec
    return _message_codec(ftype)


_CODECS: Dict[type, Tuple[Callable, Callable]] = {}


def _message_codec(cls) -> Tuple[Callable, Callable]:
    if cls in _CODECS:
        return _CODECS[cls]
    fields = [(name, *_field_codec(ftype)) for name, ftype in cls.__ros_fields__]

    def enc(out: _Out, msg) -> None:
        for name, fenc, _ in fields:
            fenc(out, getattr(msg, name))

    def dec(inp: _In):
        obj = cls.__new__(cls)
        for name, _, fdec in fields:
            setattr(obj, name, fdec(inp))
        return obj
    _CODECS[cls] = (enc, dec)
    return enc, dec


def serialize(msg) -> bytes:
    """One message -> CDR bytes with the little-endian encapsulation header."""
    enc, _ = _message_codec(type(msg))
    out = _Out()
    out.chunks.append(ENCAPSULATION_LE)
    try:
        enc(out, msg)
    except (struct.error, TypeError, AttributeError) as exc:
        raise CdrError(f'cannot serialise {type(msg).__name__}: {exc}') from None
    return b''.join(out.chunks)


def deserialize(data, cls):
    """CDR bytes (encapsulation header first, either byte order) -> an instance of ``cls``.

    Raises:
        CdrError: bad header or truncated payload (one line, names the type).
    """
    buf = memoryview(data).cast('B') if not isinstance(data, memoryview) else data.cast('B')
    if len(buf) < 4 or buf[0] != 0 or buf[1] not in (0, 1):
        raise CdrError(f'{cls.__ros_type__}: not a plain CDR payload (encapsulation header '
                       f'{bytes(buf[:4]).hex() or "missing"}, expected 0001xxxx or 0000xxxx)')
    _, dec = _message_codec(cls)
    inp = _In(buf, '<' if buf[1] == 1 else '>')
    try:
        return dec(inp)
    except CdrError as exc:
        raise CdrError(f'{cls.__ros_type__}: {exc}') from None
    except (struct.error, UnicodeDecodeError) as exc:
        raise CdrError(f'{cls.__ros_type__}: malformed CDR payload ({exc})') from None
