"""sensor_msgs/Image and CompressedImage <-> numpy arrays, in the detector's pixel order.

Decoding makes zero-copy views onto the message bytes where the encoding allows it (bgr8 or rgb8
already in the asked order, mono16 little-endian for ``decode_image_raw``), honouring ``step``
(row padding): the returned array may then be read-only and non-contiguous. Colour conversions go
through ``cv2.cvtColor`` so the results equal OpenCV's (and cv_bridge's) pixel for pixel.

Encoding notes (as in ROS ``sensor_msgs/image_encodings.hpp`` and cv_bridge):

* ``yuv422`` is UYVY (U0 Y0 V0 Y1), ``yuv422_yuy2`` is YUYV (Y0 U0 Y1 V0); both need an even width.
* ``bayer_rggb8`` has R at (0, 0). OpenCV names Bayer codes by the second row's first two
  pixels, so ROS ``bayer_rggb8`` is ``COLOR_BayerBG2BGR`` (cv_bridge uses the same mapping).
* ``mono16`` reaches the detector as 8 bit by ``round(v / 257)`` (65535 -> 255), the scaling
  cv_bridge applies for 16 -> 8 bit (``convertTo`` with 255 / 65535); ``decode_image_raw`` keeps
  the native uint16 values for tools.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np


class ImageDecodeError(ValueError):
    """A message that cannot be turned into an image; the text names the field at fault."""


# encoding -> (bytes per pixel, channels of the raw array)
_LAYOUT = {
    'rgb8': (3, 3), 'bgr8': (3, 3), 'rgba8': (4, 4), 'bgra8': (4, 4),
    'mono8': (1, 1), '8UC1': (1, 1), '8UC3': (3, 3), 'mono16': (2, 1), '16UC1': (2, 1),
    'yuv422': (2, 2), 'yuv422_yuy2': (2, 2),
    'bayer_rggb8': (1, 1), 'bayer_bggr8': (1, 1), 'bayer_gbrg8': (1, 1), 'bayer_grbg8': (1, 1),
}
ENCODINGS = tuple(_LAYOUT)

# cv2 code from each encoding to BGR and to RGB (None: already in that order)
_TO_BGR = {
    'rgb8': cv2.COLOR_RGB2BGR, 'bgr8': None, '8UC3': None, 'rgba8': cv2.COLOR_RGBA2BGR,
    'bgra8': cv2.COLOR_BGRA2BGR, 'mono8': cv2.COLOR_GRAY2BGR, '8UC1': cv2.COLOR_GRAY2BGR,
    'yuv422': cv2.COLOR_YUV2BGR_UYVY, 'yuv422_yuy2': cv2.COLOR_YUV2BGR_YUY2,
    'bayer_rggb8': cv2.COLOR_BayerBG2BGR, 'bayer_bggr8': cv2.COLOR_BayerRG2BGR,
    'bayer_gbrg8': cv2.COLOR_BayerGR2BGR, 'bayer_grbg8': cv2.COLOR_BayerGB2BGR,
}
_TO_RGB = {
    'rgb8': None, 'bgr8': cv2.COLOR_BGR2RGB, '8UC3': cv2.COLOR_BGR2RGB,
    'rgba8': cv2.COLOR_RGBA2RGB, 'bgra8': cv2.COLOR_BGRA2RGB, 'mono8': cv2.COLOR_GRAY2RGB,
    '8UC1': cv2.COLOR_GRAY2RGB, 'yuv422': cv2.COLOR_YUV2RGB_UYVY,
    'yuv422_yuy2': cv2.COLOR_YUV2RGB_YUY2,
    'bayer_rggb8': cv2.COLOR_BayerBG2RGB, 'bayer_bggr8': cv2.COLOR_BayerRG2RGB,
    'bayer_gbrg8': cv2.COLOR_BayerGR2RGB, 'bayer_grbg8': cv2.COLOR_BayerGB2RGB,
}
# which colour each 2x2 Bayer cell position samples: (row, col) -> BGR channel index
_BAYER_CELLS = {
    'bayer_rggb8': ((2, 1), (1, 0)), 'bayer_bggr8': ((0, 1), (1, 2)),
    'bayer_gbrg8': ((1, 0), (2, 1)), 'bayer_grbg8': ((1, 2), (0, 1)),
}


def _check_order(pixel_order: str) -> str:
    if pixel_order not in ('bgr', 'rgb'):
        raise ValueError(f'pixel_order "{pixel_order}" unknown; expected "bgr" or "rgb"')
    return pixel_order


def _as_bytes_array(data) -> np.ndarray:
    """Any bytes-like ``data`` (bytes, bytearray, memoryview, array.array, ndarray, list) as a
    flat uint8 array, without a copy where the object exports a buffer."""
    if isinstance(data, np.ndarray) and data.dtype.kind in 'biuf':
        flat = np.ascontiguousarray(data).reshape(-1)
        return flat if flat.dtype == np.uint8 else flat.view(np.uint8)
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError, BufferError):
        pass
    try:
        arr = np.asarray(data)
        bad_values = arr.size and (arr.dtype.kind not in 'iu' or arr.min() < 0 or arr.max() > 255)
        if arr.ndim != 1 or bad_values:
            raise ValueError
        return arr.astype(np.uint8)
    except (TypeError, ValueError, OverflowError):
        raise ImageDecodeError(f'Image.data: expected bytes (uint8[]), got '
                               f'{type(data).__name__}') from None


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ImageDecodeError(f'Image.{name}: expected an unsigned integer, got {value!r}')
    if value < 0:
        raise ImageDecodeError(f'Image.{name}: expected >= 0, got {value}')
    return int(value)


def decode_image_raw(height, width, encoding, is_bigendian, step, data) -> np.ndarray:
    """The message's pixels in their native layout, as a view where possible.

    Returns [H, W, C] uint8 for 3/4-channel encodings, [H, W] uint8 for mono8 and Bayer mosaics,
    [H, W] uint16 (native byte order) for mono16, [H, W, 2] uint8 for yuv422 / yuv422_yuy2.

    Raises:
        ImageDecodeError: a field is inconsistent (the message names it).
    """
    height, width, step = (_check_int('height', height), _check_int('width', width),
                           _check_int('step', step))
    if not isinstance(encoding, str) or encoding not in _LAYOUT:
        raise ImageDecodeError(f'Image.encoding "{encoding}" unsupported; expected one of '
                               f'{", ".join(ENCODINGS)}')
    if height == 0 or width == 0:
        raise ImageDecodeError(f'Image.height/width: zero-size image ({width} x {height})')
    bpp, channels = _LAYOUT[encoding]
    if encoding.startswith('yuv422') and width % 2:
        raise ImageDecodeError(f'Image.width: {encoding} packs 2 pixels per 4 bytes, so the '
                               f'width must be even, got {width}')
    row = width * bpp
    if step < row:
        raise ImageDecodeError(f'Image.step {step} < width * {bpp} bytes per pixel ({row}) '
                               f'for {encoding}')
    buf = _as_bytes_array(data)
    if buf.size < step * height:
        raise ImageDecodeError(f'Image.data has {buf.size} bytes; expected step * height = '
                               f'{step} * {height} = {step * height}')
    rows = buf[:step * height].reshape(height, step)[:, :row]      # [H, W * bpp] view
    if bpp == 2 and channels == 1:                                  # mono16 / 16UC1
        dtype = np.dtype('>u2' if is_bigendian else '<u2')
        if step % 2:  # odd row stride: realign rows before viewing them as uint16
            rows = np.ascontiguousarray(rows)
        img = rows.view(dtype)                                      # [H, W]
        return img if dtype.isnative else img.astype(np.uint16)
    if channels == 1:
        return rows                                                 # [H, W]
    return rows.reshape(height, width, channels)                    # [H, W, C]


def mono16_to_mono8(img16: np.ndarray) -> np.ndarray:
    """uint16 -> uint8 by round(v / 257): 0 -> 0, 65535 -> 255 (cv_bridge's 16 -> 8 bit)."""
    return cv2.convertScaleAbs(img16, alpha=1.0 / 257.0)


def decode_image(height, width, encoding, is_bigendian, step, data,
                 pixel_order: str = 'bgr') -> np.ndarray:
    """Decode an Image's fields to [H, W, 3] uint8 in ``pixel_order`` ('bgr' or 'rgb').

    When the encoding already is the asked order (bgr8 -> 'bgr', rgb8 -> 'rgb') the result is a
    read-only view onto ``data`` (rows may be padded); copy it before writing.

    Raises:
        ImageDecodeError: unknown encoding, zero size, short data, bad step, odd yuv422 width.
    """
    codes = _TO_BGR if _check_order(pixel_order) == 'bgr' else _TO_RGB
    raw = decode_image_raw(height, width, encoding, is_bigendian, step, data)
    if raw.dtype == np.uint16:
        raw, code = mono16_to_mono8(raw), (cv2.COLOR_GRAY2BGR if pixel_order == 'bgr'
                                           else cv2.COLOR_GRAY2RGB)
    else:
        code = codes[encoding]
    if code is None:
        return raw
    if encoding.startswith('yuv422') or encoding.startswith('bayer'):
        raw = np.ascontiguousarray(raw)   # these cvtColor paths want continuous input
    return cv2.cvtColor(raw, code)


def decode_image_msg(msg, pixel_order: str = 'bgr') -> np.ndarray:
    """``decode_image`` on a message object (ours, rclpy's, rosbags'): reads its attributes."""
    try:
        fields = (msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data)
    except AttributeError as exc:
        raise ImageDecodeError(f'Image: message lacks a field ({exc})') from None
    return decode_image(*fields, pixel_order=pixel_order)


def encode_image(array: np.ndarray, encoding: str, bigendian: bool = False) -> Tuple[int, bytes]:
    """Pack an array as Image ``data`` for ``encoding``; returns (step, data), no row padding.

    ``array`` is already laid out for rgb8 / bgr8 / rgba8 / bgra8 ([H, W, 3|4] uint8), mono8
    ([H, W] uint8), mono16 ([H, W] uint16, written little-endian unless ``bigendian``; pass
    ``is_bigendian`` accordingly). For yuv422 / yuv422_yuy2 give a BGR [H, W, 3] image (even
    width) or the packed [H, W, 2] bytes; for bayer_* a BGR image, sampled into the mosaic, or
    the [H, W] mosaic itself.
    """
    array = np.asarray(array)
    if encoding not in _LAYOUT:
        raise ValueError(f'encode_image: encoding "{encoding}" unsupported; expected one of '
                         f'{", ".join(ENCODINGS)}')
    if array.ndim < 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f'encode_image: array of shape {array.shape}; expected [H, W, ...] > 0')
    bpp, channels = _LAYOUT[encoding]
    h, w = array.shape[:2]
    if encoding.startswith('yuv422') and array.ndim == 3 and array.shape[2] == 3:
        if w % 2:
            raise ValueError(f'encode_image: {encoding} needs an even width, got {w}')
        code = cv2.COLOR_BGR2YUV_UYVY if encoding == 'yuv422' else cv2.COLOR_BGR2YUV_YUY2
        array = cv2.cvtColor(np.ascontiguousarray(array, dtype=np.uint8), code)
    elif encoding.startswith('bayer') and array.ndim == 3 and array.shape[2] == 3:
        array = bgr_to_bayer(array, encoding)
    if bpp == 2 and channels == 1:
        want_dtype = np.dtype('>u2' if bigendian else '<u2')
        if array.dtype != np.uint16:
            raise ValueError(f'encode_image: {encoding} needs uint16, got {array.dtype}')
        array = array.astype(want_dtype, copy=False)
    elif array.dtype != np.uint8:
        raise ValueError(f'encode_image: {encoding} needs uint8, got {array.dtype}')
    shape_ok = ((array.ndim == 2 and channels == 1)
                or (array.ndim == 3 and array.shape[2] == channels))
    if not shape_ok:
        raise ValueError(f'encode_image: array of shape {array.shape} does not fit {encoding} '
                         f'({channels} channel(s))')
    return w * bpp, np.ascontiguousarray(array).tobytes()


def bgr_to_bayer(bgr: np.ndarray, encoding: str) -> np.ndarray:
    """Sample a BGR image [H, W, 3] into the [H, W] mosaic of ``encoding`` (bayer_*8)."""
    if encoding not in _BAYER_CELLS:
        raise ValueError(f'bgr_to_bayer: "{encoding}" is not a Bayer encoding')
    mosaic = np.empty(bgr.shape[:2], np.uint8)
    for r in (0, 1):
        for c in (0, 1):
            mosaic[r::2, c::2] = bgr[r::2, c::2, _BAYER_CELLS[encoding][r][c]]
    return mosaic


def _compressed_codec(fmt: str) -> str:
    """'jpeg' | 'png' from a CompressedImage.format such as 'rgb8; jpeg compressed bgr8'."""
    text = (fmt or '').strip().lower()
    if 'compresseddepth' in text:
        raise ImageDecodeError(f'CompressedImage.format "{fmt}": compressedDepth images are not '
                               f'colour images; expected jpeg or png')
    for codec, names in (('jpeg', ('jpeg', 'jpg')), ('png', ('png',))):
        if any(n in text for n in names):
            return codec
    if text == '':
        return ''   # unspecified: let OpenCV sniff the bytes
    raise ImageDecodeError(f'CompressedImage.format "{fmt}" unsupported; expected jpeg or png')


def decode_compressed(fmt, data=None, pixel_order: str = 'bgr') -> np.ndarray:
    """Decode a jpeg / png CompressedImage to [H, W, 3] uint8 in ``pixel_order``.

    Called either as ``decode_compressed(format, data, pixel_order)`` or with a message object
    first: ``decode_compressed(msg, pixel_order)``. Whatever the format string says about the
    source encoding, image_transport stores colour data as BGR, which ``cv2.imdecode`` returns.
    16-bit PNGs are scaled like mono16; alpha is dropped.

    Raises:
        ImageDecodeError: unsupported format, empty or undecodable data.
    """
    if not isinstance(fmt, str) and hasattr(fmt, 'data'):
        msg = fmt
        if isinstance(data, str):
            pixel_order = data
        fmt, data = getattr(msg, 'format', ''), msg.data
    _check_order(pixel_order)
    _compressed_codec(fmt)
    if data is None:
        raise ImageDecodeError('CompressedImage.data: missing')
    buf = _as_bytes_array(data)
    if buf.size == 0:
        raise ImageDecodeError('CompressedImage.data: empty')
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageDecodeError(f'CompressedImage.data: {buf.size} bytes are not a decodable '
                               f'{fmt or "jpeg/png"} image')
    if img.dtype == np.uint16:
        img = mono16_to_mono8(img)
    elif img.dtype != np.uint8:
        raise ImageDecodeError(f'CompressedImage.data: pixel type {img.dtype}; expected 8 or '
                               f'16 bit')
    if img.ndim == 2 or img.shape[2] == 1:
        code = cv2.COLOR_GRAY2BGR if pixel_order == 'bgr' else cv2.COLOR_GRAY2RGB
    elif img.shape[2] == 4:
        code = cv2.COLOR_BGRA2BGR if pixel_order == 'bgr' else cv2.COLOR_BGRA2RGB
    else:
        code = None if pixel_order == 'bgr' else cv2.COLOR_BGR2RGB
    return img if code is None else cv2.cvtColor(img, code)


def encode_compressed(array: np.ndarray, fmt: str = 'jpeg', quality: int = 95,
                      pixel_order: str = 'bgr') -> bytes:
    """Encode [H, W, 3] (in ``pixel_order``) or [H, W] as jpeg / png bytes.

    ``quality`` is the JPEG quality (0-100) or, for png, mapped to a compression level 0-9.
    """
    codec = _compressed_codec(fmt)
    if codec == '':
        raise ValueError('encode_compressed: format must be "jpeg" or "png"')
    img = np.asarray(array)
    if img.ndim == 3 and img.shape[2] == 3 and _check_order(pixel_order) == 'rgb':
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    if codec == 'jpeg':
        ok, out = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    else:
        level = int(np.clip(round((100 - int(quality)) * 9 / 100), 0, 9))
        ok, out = cv2.imencode('.png', img, [cv2.IMWRITE_PNG_COMPRESSION, level])
    if not ok:
        raise ValueError(f'encode_compressed: OpenCV could not encode {img.shape} as {codec}')
    return out.tobytes()
