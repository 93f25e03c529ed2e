"""Detections -> vision_msgs: checked against hand-computed centre/size and rosbags' decoding."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from video_perception import msgs
from video_perception.detections import Detections
from video_perception.ros_convert import (detections_to_msg, diagnostic_array, label_info_msg,
                                          msg_to_boxes_xyxy)
from video_perception.transport import cdr


def test_layout_humble(typestore):
    header = msgs.Header(stamp=msgs.Time(sec=12, nanosec=34), frame_id='cam')
    dets = Detections([[10, 20, 50, 100], [0, 0, 1, 1]], [0.9, 0.4], [3, 0])
    out = detections_to_msg(dets, header, id_prefix='t')
    ref = typestore.deserialize_cdr(cdr.serialize(out), 'vision_msgs/msg/Detection2DArray')
    d0 = ref.detections[0]
    assert (ref.header.stamp.sec, ref.header.stamp.nanosec, ref.header.frame_id) == (12, 34,
                                                                                     'cam')
    assert (d0.bbox.center.position.x, d0.bbox.center.position.y) == (30.0, 60.0)
    assert (d0.bbox.size_x, d0.bbox.size_y, d0.bbox.center.theta) == (40.0, 80.0, 0.0)
    assert d0.results[0].hypothesis.class_id == '3'
    assert d0.results[0].hypothesis.score == pytest.approx(0.9)
    assert d0.header.frame_id == 'cam' and d0.id == 't0' and ref.detections[1].id == 't1'
    assert out.header is not header  # copied, so later edits to the input do not leak
    named = detections_to_msg(dets, header, class_names=['a', 'b', 'c', 'polyp'])
    assert [d.results[0].hypothesis.class_id for d in named.detections] == ['polyp', 'a']
    with pytest.raises(ValueError, match='class id 3 is outside'):
        detections_to_msg(dets, header, class_names=['a'])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 2000), st.floats(0, 2000), st.floats(0, 500),
                          st.floats(0, 500), st.floats(0, 1), st.integers(0, 79)), max_size=6))
def test_boxes_round_trip(rows):
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _, _ in rows],
                     np.float32).reshape(-1, 4)
    dets = Detections(boxes, [r[4] for r in rows], [r[5] for r in rows])
    back = msg_to_boxes_xyxy(detections_to_msg(dets, msgs.Header()))
    assert len(back) == len(rows)
    for (x1, y1, x2, y2, cls, score), box, row in zip(back, boxes, rows):
        assert np.allclose([x1, y1, x2, y2], box, atol=1e-3)
        assert cls == str(row[5]) and score == pytest.approx(np.float32(row[4]))


def test_label_info_and_diagnostics(typestore):
    info = label_info_msg(['car', 'person'], msgs.Header(frame_id='cam'), threshold=0.3)
    ref = typestore.deserialize_cdr(cdr.serialize(info), 'vision_msgs/msg/LabelInfo')
    assert [(c.class_id, c.class_name) for c in ref.class_map] == [(0, 'car'), (1, 'person')]
    assert ref.threshold == pytest.approx(0.3)
    diag = diagnostic_array(msgs.Header(), 'streamnet: inference', 1, 'slow',
                            {'fps': 12.5, 'dropped': 3})
    ref = typestore.deserialize_cdr(cdr.serialize(diag), 'diagnostic_msgs/msg/DiagnosticArray')
    assert ref.status[0].level == 1 and ref.status[0].name == 'streamnet: inference'
    assert [(kv.key, kv.value) for kv in ref.status[0].values] == [
        ('fps', '12.5000'), ('dropped', '3')]
    with pytest.raises(ValueError, match='diagnostic level 7'):
        diagnostic_array(msgs.Header(), 'x', 7, 'bad')
