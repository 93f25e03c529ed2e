"""sensor_msgs/Image and CompressedImage decoding against OpenCV's own conversions."""
import array

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from video_perception import msgs
from video_perception.image_codec import (ENCODINGS, ImageDecodeError, decode_compressed,
                                          decode_image, decode_image_msg, decode_image_raw,
                                          encode_compressed, encode_image)

H, W = 6, 10
RNG = np.random.default_rng(7)

# ROS name -> OpenCV code, written out here from the cv_bridge mapping (OpenCV names a Bayer
# pattern by the 2nd row's first two pixels), independent of the module's table.
BAYER_TO_CV = {'bayer_rggb8': cv2.COLOR_BayerBG2BGR, 'bayer_bggr8': cv2.COLOR_BayerRG2BGR,
               'bayer_gbrg8': cv2.COLOR_BayerGR2BGR, 'bayer_grbg8': cv2.COLOR_BayerGB2BGR}


def _raw_and_reference(encoding):
    """(native array as it goes on the wire, bytes per pixel, expected BGR via OpenCV)."""
    if encoding in ('bgr8', 'rgb8'):
        raw = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
        ref = raw if encoding == 'bgr8' else cv2.cvtColor(raw, cv2.COLOR_RGB2BGR)
        return raw, 3, ref
    if encoding in ('bgra8', 'rgba8'):
        raw = RNG.integers(0, 256, (H, W, 4), dtype=np.uint8)
        code = cv2.COLOR_BGRA2BGR if encoding == 'bgra8' else cv2.COLOR_RGBA2BGR
        return raw, 4, cv2.cvtColor(raw, code)
    if encoding == 'mono8':
        raw = RNG.integers(0, 256, (H, W), dtype=np.uint8)
        return raw, 1, cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR)
    if encoding in ('yuv422', 'yuv422_yuy2'):
        raw = RNG.integers(0, 256, (H, W, 2), dtype=np.uint8)
        code = cv2.COLOR_YUV2BGR_UYVY if encoding == 'yuv422' else cv2.COLOR_YUV2BGR_YUY2
        return raw, 2, cv2.cvtColor(raw, code)
    if encoding in BAYER_TO_CV:
        raw = RNG.integers(0, 256, (H, W), dtype=np.uint8)
        return raw, 1, cv2.cvtColor(raw, BAYER_TO_CV[encoding])
    raise AssertionError(encoding)


def _pad_rows(raw: np.ndarray, bpp: int, pad: int) -> bytes:
    rows = raw.reshape(raw.shape[0], -1).view(np.uint8).reshape(raw.shape[0], -1)
    junk = np.full((raw.shape[0], pad), 0xAB, np.uint8)
    return np.concatenate([rows, junk], axis=1).tobytes()


EIGHT_BIT = ['bgr8', 'rgb8', 'bgra8', 'rgba8', 'mono8', 'yuv422', 'yuv422_yuy2',
             'bayer_rggb8', 'bayer_bggr8', 'bayer_gbrg8', 'bayer_grbg8']


@pytest.mark.parametrize('pad', [0, 3, 8])
@pytest.mark.parametrize('encoding', EIGHT_BIT)
def test_matches_opencv_with_padded_step(encoding, pad):
    raw, bpp, ref = _raw_and_reference(encoding)
    step = W * bpp + pad
    data = _pad_rows(raw, bpp, pad)
    bgr = decode_image(H, W, encoding, 0, step, data, 'bgr')
    assert bgr.shape == (H, W, 3) and bgr.dtype == np.uint8
    np.testing.assert_array_equal(bgr, ref)
    rgb = decode_image(H, W, encoding, 0, step, data, 'rgb')
    np.testing.assert_array_equal(rgb, ref[..., ::-1])


@pytest.mark.parametrize('bigendian', [0, 1])
@pytest.mark.parametrize('pad', [0, 2, 5])
def test_mono16_both_endiannesses(bigendian, pad):
    values = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
    values[0, :4] = [0, 65535, 257 * 100, 257 * 100 + 129]   # exact and rounding cases
    wire = values.astype('>u2' if bigendian else '<u2')
    data = _pad_rows(wire, 2, pad)
    raw = decode_image_raw(H, W, 'mono16', bigendian, W * 2 + pad, data)
    assert raw.dtype == np.uint16 and raw.dtype.isnative
    np.testing.assert_array_equal(raw, values)
    expect8 = np.floor(values / 257.0 + 0.5).astype(np.uint8)  # round(v / 257), cv_bridge's
    assert list(expect8[0, :4]) == [0, 255, 100, 101]
    bgr = decode_image(H, W, 'mono16', bigendian, W * 2 + pad, data)
    np.testing.assert_array_equal(bgr, np.repeat(expect8[..., None], 3, axis=2))


def test_yuv422_byte_orders_by_hand():
    """UYVY puts luma in odd bytes, YUYV in even bytes: luma 200 with chroma 128 each way is a
    grey of (200 - 16) * 255 / 219 = 214 (BT.601 video range); the swapped order would give 130."""
    uyvy = np.tile(np.array([128, 200], np.uint8), (2, 4, 1))           # [2, 4, 2]
    yuyv = np.tile(np.array([200, 128], np.uint8), (2, 4, 1))
    for enc, packed in (('yuv422', uyvy), ('yuv422_yuy2', yuyv)):
        out = decode_image(2, 4, enc, 0, 8, packed.tobytes())
        assert np.all(np.abs(out.astype(int) - 214) <= 1), enc


@pytest.mark.parametrize('encoding', sorted(BAYER_TO_CV))
def test_bayer_naming_with_a_known_colour(encoding):
    """A uniform colour mosaicked by hand from the ROS pattern name comes back as that colour."""
    b, g, r = 30, 120, 220
    letters = encoding[6:10]                                 # e.g. 'rggb': row 0 'rg', row 1 'gb'
    value = {'r': r, 'g': g, 'b': b}
    mosaic = np.empty((8, 8), np.uint8)
    for i in range(2):
        for j in range(2):
            mosaic[i::2, j::2] = value[letters[2 * i + j]]
    out = decode_image(8, 8, encoding, 0, 8, mosaic.tobytes())
    np.testing.assert_array_equal(out[2:6, 2:6], np.broadcast_to([b, g, r], (4, 4, 3)))
    # and the encoder samples the mosaic the same way
    step, data = encode_image(np.full((8, 8, 3), (b, g, r), np.uint8), encoding)
    assert step == 8 and data == mosaic.tobytes()


def test_bgr8_is_a_zero_copy_view():
    raw = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
    buf = bytearray(_pad_rows(raw, 3, 4))
    out = decode_image(H, W, 'bgr8', 0, W * 3 + 4, buf)
    assert np.shares_memory(out, np.frombuffer(buf, np.uint8))


@pytest.mark.parametrize('kind', ['bytes', 'bytearray', 'memoryview', 'array', 'ndarray', 'list'])
def test_data_containers(kind):
    raw, _, ref = _raw_and_reference('rgb8')
    b = raw.tobytes()
    data = {'bytes': b, 'bytearray': bytearray(b), 'memoryview': memoryview(b),
            'array': array.array('B', b), 'ndarray': np.frombuffer(b, np.uint8),
            'list': list(b)}[kind]
    np.testing.assert_array_equal(decode_image(H, W, 'rgb8', 0, W * 3, data), ref)


def test_decode_msg_objects():
    raw, _, ref = _raw_and_reference('rgba8')
    msg = msgs.Image(height=H, width=W, encoding='rgba8', is_bigendian=0, step=W * 4,
                     data=raw.tobytes())
    np.testing.assert_array_equal(decode_image_msg(msg), ref)
    np.testing.assert_array_equal(decode_image_msg(msg, 'rgb'), ref[..., ::-1])


@pytest.mark.parametrize('encoding', ['bgr8', 'rgb8', 'bgra8', 'rgba8', 'mono8'])
def test_encode_packed_layouts(encoding):
    raw, bpp, _ = _raw_and_reference(encoding)
    assert encode_image(raw, encoding) == (W * bpp, raw.tobytes())


def test_encode_yuv_and_mono16_against_opencv_and_numpy():
    bgr = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
    assert encode_image(bgr, 'yuv422')[1] == cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_UYVY).tobytes()
    assert encode_image(bgr, 'yuv422_yuy2')[1] == cv2.cvtColor(
        bgr, cv2.COLOR_BGR2YUV_YUY2).tobytes()
    v = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
    assert encode_image(v, 'mono16') == (2 * W, v.astype('<u2').tobytes())
    assert encode_image(v, 'mono16', bigendian=True)[1] == v.astype('>u2').tobytes()


@pytest.mark.parametrize('fields, field', [
    (dict(encoding='bgr9'), 'encoding'),
    (dict(height=0), 'height'),
    (dict(width=0), 'width'),
    (dict(step=W * 3 - 1), 'step'),
    (dict(data=b'\0' * (W * 3 * H - 1)), 'data'),
    (dict(encoding='yuv422', width=W - 1, step=2 * (W - 1)), 'width'),
    (dict(height=-1), 'height'),
    (dict(data='not bytes'), 'data'),
])
def test_bad_fields_name_the_field(fields, field):
    args = dict(height=H, width=W, encoding='bgr8', is_bigendian=0, step=W * 3,
                data=b'\0' * (W * 3 * H))
    args.update(fields)
    with pytest.raises(ImageDecodeError) as info:
        decode_image(**args)
    text = str(info.value)
    assert field in text and '\n' not in text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(encoding=st.one_of(st.sampled_from(ENCODINGS), st.text(max_size=8)),
       height=st.integers(-2, 9), width=st.integers(-2, 9), step=st.integers(-2, 40),
       bigendian=st.integers(0, 1), data=st.binary(max_size=400),
       order=st.sampled_from(['bgr', 'rgb']))
def test_fuzz_decoder_raises_only_decode_errors(encoding, height, width, step, bigendian, data,
                                                order):
    try:
        out = decode_image(height, width, encoding, bigendian, step, data, order)
    except ImageDecodeError:
        return
    assert out.shape == (height, width, 3) and out.dtype == np.uint8


@settings(max_examples=100, deadline=None)
@given(fmt=st.sampled_from(['jpeg', 'png', '', 'rgb8; jpeg compressed bgr8', 'tiff']),
       data=st.binary(max_size=200))
def test_fuzz_compressed_raises_only_decode_errors(fmt, data):
    try:
        out = decode_compressed(fmt, data)
    except ImageDecodeError:
        return
    assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8


@pytest.mark.parametrize('fmt, ext', [('jpeg', '.jpg'), ('png', '.png'),
                                      ('rgb8; jpeg compressed bgr8', '.jpg'),
                                      ('bgr8; png compressed bgr8', '.png')])
def test_compressed_matches_imdecode(fmt, ext):
    bgr = cv2.GaussianBlur(RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8), (5, 5), 0)
    data = cv2.imencode(ext, bgr)[1].tobytes()
    ref = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(decode_compressed(fmt, data), ref)
    np.testing.assert_array_equal(decode_compressed(fmt, data, 'rgb'), ref[..., ::-1])
    msg = msgs.CompressedImage(format=fmt, data=data)
    np.testing.assert_array_equal(decode_compressed(msg, 'rgb'), ref[..., ::-1])


def test_compressed_gray_and_16_bit_png():
    gray = RNG.integers(0, 256, (5, 7), dtype=np.uint8)
    out = decode_compressed('png', cv2.imencode('.png', gray)[1].tobytes())
    np.testing.assert_array_equal(out, cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    deep = RNG.integers(0, 65536, (5, 7), dtype=np.uint16)
    out = decode_compressed('png', cv2.imencode('.png', deep)[1].tobytes())
    np.testing.assert_array_equal(out[..., 0], np.floor(deep / 257.0 + 0.5).astype(np.uint8))


def test_encode_compressed_round_trip():
    bgr = RNG.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    png = encode_compressed(bgr, 'png')
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), 1), bgr)
    jpg = encode_compressed(bgr, 'jpeg', quality=90)
    assert jpg[:2] == b'\xff\xd8'
    png_rgb = encode_compressed(bgr[..., ::-1], 'png', pixel_order='rgb')
    assert png_rgb == png


@pytest.mark.parametrize('fmt, data, field', [
    ('h264', b'\0\0\0\1', 'format'), ('jpeg', b'', 'data'), ('jpeg', b'garbage!', 'data'),
    ('16UC1; compressedDepth png', b'\0' * 20, 'format')])
def test_compressed_bad_input(fmt, data, field):
    with pytest.raises(ImageDecodeError) as info:
        decode_compressed(fmt, data)
    assert field in str(info.value)


BPP = {'bgr8': 3, 'rgb8': 3, 'bgra8': 4, 'rgba8': 4, 'mono8': 1, 'mono16': 2, 'yuv422': 2,
       'yuv422_yuy2': 2, 'bayer_rggb8': 1, 'bayer_bggr8': 1, 'bayer_gbrg8': 1, 'bayer_grbg8': 1}


@settings(max_examples=150, deadline=None)
@given(encoding=st.sampled_from(sorted(BPP)), height=st.integers(1, 7),
       half_width=st.integers(1, 5), pad=st.integers(0, 9), bigendian=st.integers(0, 1),
       seed=st.integers(0, 2 ** 16), extra=st.integers(0, 5))
def test_fuzz_valid_messages_decode(encoding, height, half_width, pad, bigendian, seed, extra):
    """Consistent fields with random pixel bytes always decode, to the right shape."""
    width = 2 * half_width
    step = width * BPP[encoding] + pad
    data = np.random.default_rng(seed).integers(0, 256, step * height + extra,
                                                dtype=np.uint8).tobytes()
    out = decode_image(height, width, encoding, bigendian, step, data)
    assert out.shape == (height, width, 3) and out.dtype == np.uint8


def test_real_rosbag2_images_decode(shared_data):
    """The three 2 x 2 mono8 images of a bag recorded by ROS 2, as rosbags' message objects."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_typestore
    store = get_typestore(Stores.ROS2_HUMBLE)
    seen = 0
    with Reader(shared_data / 'rosbag2_images_real' / 'images.bag') as reader:
        for conn, _, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            assert msg.encoding == 'mono8'
            gray = np.asarray(msg.data, np.uint8)[:msg.step * msg.height].reshape(
                msg.height, msg.step)[:, :msg.width]
            np.testing.assert_array_equal(decode_image_msg(msg),
                                          cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
            seen += 1
    assert seen == 3


def test_real_jpeg_frame(shared_data):
    """An Argoverse 1920 x 1200 JPEG as a CompressedImage equals OpenCV's own imread."""
    path = sorted((shared_data / 'argoverse_hd_sample' / 'frames').rglob('*.jpg'))[0]
    data = path.read_bytes()
    ref = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert ref.shape == (1200, 1920, 3)
    np.testing.assert_array_equal(decode_compressed('bgr8; jpeg compressed bgr8', data), ref)
