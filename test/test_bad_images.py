"""Bad image messages into a running node, over real DDS in separate processes: every encoding
``sensor_msgs/image_encodings.hpp`` names, inconsistent sizes, corrupt compressed data, stamps
going back, size changes. The node must stay alive, serve every good frame, count each bad one in
``/diagnostics`` exactly and log one line naming the field at fault (docs/RELIABILITY.md).
"""
import re
import time

import cv2
import numpy as np

import tiny_bundles
from test_node_e2e_dds import (_frame, _image_msg, handshake, Listener, settle, start_node,
                               stamp_ns, stop_node)
from video_perception import msgs
from video_perception.image_codec import ENCODINGS, encode_image
from video_perception.transport.base import QOS_SENSOR_DATA

# every encoding sensor_msgs/image_encodings.hpp names (Jazzy); the codec serves some, the rest
# must be skipped with a count while the node keeps serving
ROS_ENCODINGS = (['rgb8', 'rgba8', 'rgb16', 'rgba16', 'bgr8', 'bgra8', 'bgr16', 'bgra16',
                  'mono8', 'mono16']
                 + [f'{b}{t}C{c}' for b, t in (('8', 'U'), ('8', 'S'), ('16', 'U'), ('16', 'S'),
                                               ('32', 'S'), ('32', 'F'), ('64', 'F'))
                    for c in (1, 2, 3, 4)]
                 + [f'bayer_{p}{d}' for d in (8, 16) for p in ('rggb', 'bggr', 'gbrg', 'grbg')]
                 + ['yuv422', 'yuv422_yuy2', 'uyvy', 'yuyv', 'nv21', 'nv24'])


def _bytes_per_pixel(encoding):
    m = re.fullmatch(r'(\d+)[USF]C(\d)', encoding)
    if m:
        return int(m.group(1)) // 8 * int(m.group(2))
    depth = 2 if encoding.endswith('16') else 1
    channels = {'rgb': 3, 'bgr': 3, 'rgba': 4, 'bgra': 4, 'mono': 1, 'bayer': 1}
    for prefix, c in sorted(channels.items(), key=lambda kv: -len(kv[0])):
        if encoding.startswith(prefix):
            return depth * c
    return {'yuv422': 2, 'yuv422_yuy2': 2, 'uyvy': 2, 'yuyv': 2, 'nv21': 1, 'nv24': 1}[encoding]


def _finish(listener, node):
    """The node's diagnostics after the last frame, then stop it: it must have stayed up and
    stop cleanly. Returns (diagnostics values, stderr)."""
    try:
        assert listener.wait('diags', 2, 5)
        time.sleep(1.2)
        diag = listener.last_diag_values()
        alive = node.poll() is None
    finally:
        rc, err = stop_node(node)
        listener.close()
    assert alive and rc == 0 and 'Traceback' not in err, err[-3000:]
    return diag, err


def test_node_keeps_serving_through_bad_image_messages(tmp_path, ros_domain):
    bundle = tiny_bundles.make_v2i_bundle(str(tmp_path / 'v2i'))
    listener = Listener()
    node = start_node('v2i_node', bundle, 'backend:=onnxruntime')
    pub = listener.t.create_publisher(msgs.Image, '/cam', QOS_SENSOR_DATA)
    t0, sent = 1_700_000_000 * 10**9, []

    def send(msg, good):
        stamp = t0 + len(sent) * 10**6 if msg.header.stamp.sec == 0 else stamp_ns(
            msg.header.stamp)
        sec, nsec = divmod(stamp, 10**9)
        msg.header.stamp = msgs.Time(sec=sec, nanosec=nsec)
        pub.publish(msg)
        sent.append((stamp, good, msg.encoding))
        settle(listener, stamp if good else None)

    def raw(encoding, w=192, h=128, step=None, data=None):
        bpp = _bytes_per_pixel(encoding)
        step = w * bpp if step is None else step
        return msgs.Image(header=msgs.Header(frame_id='camera'), height=h, width=w,
                          encoding=encoding, step=step,
                          data=bytes(step * h) if data is None else data)

    try:
        listener.wait_ready(node)
        assert pub.wait_for_subscribers(1, 10)
        frame = _frame(0)                                           # [128, 192, 3] bgr
        # best effort: the node's reader may match this writer a moment after the writer matched
        # it, and drops what came before; good frames until one is answered open the test
        warmups = handshake(listener, pub, lambda ns: _image_msg(frame, ns), t0 - 10**9)
        for enc in ROS_ENCODINGS:
            if enc in ENCODINGS:
                gray = frame[:, :, 0]
                arr = {1: gray, 3: frame, 4: np.dstack([frame, gray])}.get(
                    _bytes_per_pixel(enc) if not enc.endswith('16') else 1, frame)
                if enc.startswith(('bayer', 'yuv422')):
                    arr = frame
                if enc in ('mono16', '16UC1'):
                    arr = gray.astype(np.uint16) * 257
                step, data = encode_image(arr, enc)
                send(raw(enc, step=step, data=data), True)
            else:
                send(raw(enc), False)
        send(_image_msg(frame, 0), True)
        short = _image_msg(frame, 0)
        short.data = short.data[:1000]
        send(short, False)                                          # data shorter than declared
        send(raw('bgr8', step=100), False)                          # step < width * 3
        send(raw('bgr8', w=0, h=0, data=b''), False)                # zero-size
        send(raw('yuv422', w=191), False)                           # odd width for 4:2:2
        send(raw('bgr8', w=100000, h=100000, step=300000, data=bytes(1000)), False)
        send(_image_msg(frame, sent[-1][0] - 5 * 10**9), True)     # a stamp 5 s back in time
        send(_image_msg(_frame(1, size=(256, 160)), 0), True)      # a new size
        send(_image_msg(frame, 0), True)                            # the next good frame
    except BaseException:
        stop_node(node)
        listener.close()
        raise
    diag, err = _finish(listener, node)
    served = {stamp_ns(m.header.stamp) for _, m in listener.dets}
    wrong = [e for s, ok, e in sent if ok != (s in served)]
    assert not wrong, wrong
    bad = sum(1 for _, ok, _ in sent if not ok)
    assert diag['bad_frames'] == str(bad)
    assert diag['frames_processed'] == str(len(sent) - bad + warmups)
    lines = [ln for ln in err.splitlines() if 'skipped a bad image' in ln]
    assert lines and all('Image.' in ln for ln in lines), lines      # names the field at fault


def test_node_keeps_serving_through_bad_compressed_images(tmp_path, ros_domain):
    bundle = tiny_bundles.make_v2i_bundle(str(tmp_path / 'v2i'))
    listener = Listener(compressed=True)
    node = start_node('v2i_node', bundle, 'backend:=onnxruntime', 'input_type:=compressed')
    pub = listener.t.create_publisher(msgs.CompressedImage, '/cam', QOS_SENSOR_DATA)
    png = cv2.imencode('.png', _frame(0))[1].tobytes()
    jpeg = cv2.imencode('.jpg', _frame(0))[1].tobytes()
    cases = [('png', png, True), ('jpeg', jpeg[:200], False),       # cut short
             ('jpeg', b'\xff\xd8' + bytes(5000), False),            # a header, then zeros
             ('png', b'', False),                                    # empty
             ('jpeg', png, True),                                    # format says jpeg: a png
             ('tiff', jpeg, False),                                  # a format it does not take
             ('png', bytes(range(256)) * 8, False),                  # noise
             ('jpeg', jpeg, True)]
    t0, sent = 1_700_000_000 * 10**9, []

    def good(ns):
        sec, nsec = divmod(ns, 10**9)
        return msgs.CompressedImage(header=msgs.Header(stamp=msgs.Time(sec=sec, nanosec=nsec),
                                                       frame_id='camera'), format='png', data=png)

    try:
        listener.wait_ready(node)
        assert pub.wait_for_subscribers(1, 10)
        handshake(listener, pub, good, t0 - 10**9)     # best effort: see the test above
        for i, (fmt, data, _) in enumerate(cases):
            sec, nsec = divmod(t0 + i * 10**6, 10**9)
            pub.publish(msgs.CompressedImage(header=msgs.Header(
                stamp=msgs.Time(sec=sec, nanosec=nsec), frame_id='camera'), format=fmt,
                data=data))
            sent.append(t0 + i * 10**6)
            settle(listener, sent[-1] if cases[i][2] else None)
    except BaseException:
        stop_node(node)
        listener.close()
        raise
    diag, err = _finish(listener, node)
    served = {stamp_ns(m.header.stamp) for _, m in listener.dets} - {
        stamp_ns(m.header.stamp) for _, m in listener.dets if stamp_ns(m.header.stamp) < t0}
    decodable = {s for s, (_, _, ok) in zip(sent, cases) if ok}
    assert served == decodable, (sorted(served), sorted(decodable), err[-2000:])
    assert diag['bad_frames'] == str(len(cases) - len(decodable))
    assert any('skipped a bad image' in ln for ln in err.splitlines()), err[-2000:]
