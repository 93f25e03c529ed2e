"""The parameters of a detector node: every one a node of a family declares, with its
description, range and read_only flag (what ``ros2 param describe`` shows and what both transports
check a value against, ``transport/params.py``).

The common ones are listed here; the cameras' (``multi_camera_plan.CAMERA_SPECS``) and the
Streamer's (``streaming.stage.STREAMING_SPECS``) follow, then the family's own
(``families/<family>.py``: ``parameter_specs()``), where a family's spec with a common name
replaces the common one. The node glue (``node_runner``), ``build_core`` and
``multi_camera.build_multi_core`` read this one list.
"""
from __future__ import annotations

from typing import Any, Dict, List

from video_perception.backends.base import BACKEND_NAMES
from video_perception.multi_camera_plan import CAMERA_SPECS
from video_perception.transport.base import ParameterSpec


def parameter_specs(family: Any) -> List[ParameterSpec]:
    """Every parameter a node of ``family`` (a family object, or a registered name) declares,
    with description and range: the common ones, then the family's (``families/<family>.py``;
    one with a common name replaces it)."""
    from video_perception.families import resolve
    own = resolve(family, what='node').parameter_specs()
    ro = dict(read_only=True)
    specs = [
        ParameterSpec('model_path', '', 'model bundle directory (model.json + ONNX graphs)', **ro),
        ParameterSpec('backend', 'auto', 'inference backend; auto = tensorrt > onnxruntime-cuda '
                      '> torch-cuda > onnxruntime-cpu', choices=BACKEND_NAMES, **ro),
        ParameterSpec('device', 'auto', 'auto (GPU where present), cpu or cuda',
                      choices=('auto', 'cpu', 'cuda'), **ro),
        ParameterSpec('threads', 0, 'CPU threads per inference (0 = runtime default)',
                      min_value=0, max_value=256, **ro),
        ParameterSpec('fp16', True, 'TensorRT: build a half-precision engine', **ro),
        ParameterSpec('engine_cache_dir', '', 'TensorRT engine cache (empty = <model_path>/'
                      'engines); key: ONNX sha256, precision, input shape, TensorRT, GPU', **ro),
        ParameterSpec('force_engine_update', False, 'TensorRT: rebuild the engine even if a '
                      'cached one matches', **ro),
        ParameterSpec('input_type', 'raw', 'raw: sensor_msgs/Image; compressed: '
                      'sensor_msgs/CompressedImage (jpeg/png)', choices=('raw', 'compressed'),
                      **ro),
        ParameterSpec('reliability', 'best_effort', 'QoS reliability of the image subscription '
                      '(best_effort also accepts reliable publishers)',
                      choices=('best_effort', 'reliable'), **ro),
        ParameterSpec('score_threshold', 0.3, 'minimum score of a published detection',
                      min_value=0.0, max_value=1.0),
        ParameterSpec('max_detections', 100, 'at most this many detections per frame',
                      min_value=1, max_value=1000),
        ParameterSpec('publish_image', False, 'also publish detections/image (boxes drawn, '
                      'for rviz)'),
        ParameterSpec('simulate_latency_ms', 0.0, 'testing only: add this many ms to every model '
                      'call, to emulate a slower model', min_value=0.0, max_value=10000.0),
        ParameterSpec('stamp_mode', 'input', 'output stamp: input (header copied); with '
                      'forecast:=kalman the forecast target time', choices=('input',)),
    ]
    from video_perception.streaming.stage import STREAMING_SPECS
    specs += CAMERA_SPECS + STREAMING_SPECS
    replaced = {o.name: o for o in own}
    return ([replaced.pop(c.name, c) for c in specs]
            + [o for o in own if o.name in replaced])


def default_parameters(family: Any) -> Dict[str, Any]:
    return {s.name: s.default for s in parameter_specs(family)}
