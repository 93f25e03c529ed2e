"""How one node serves several cameras, decided from its parameters before the model loads:
which camera is which (``cameras`` and ``camera_names``, checked against the ROS name rules) and
how frames run (``batch_mode``: one batch per step, or each camera's frame alone on its own
worker). ``multi_camera.MultiCameraCore`` carries the plan out; this module holds only the
rules, so that they can be read and tested apart from the serving loop."""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence

from video_perception.transport.base import ParameterError, ParameterSpec

BATCH_MODES = ('auto', 'batch', 'per_camera')
DEAD_PERIODS = 3.0          # a camera silent for this many of its periods is not waited for

# the node parameters of several cameras in one node (multi_camera.py serves them); node_core's
# parameter list takes them from here, below both nodes' cores
CAMERA_SPECS = [
    ParameterSpec('cameras', [], 'image topics of several cameras served by one batched model '
                  '(empty: the one "image" topic)', read_only=True),
    ParameterSpec('camera_names', [], 'one name per camera (default cam0, cam1, ...): outputs '
                  'on <name>/detections', read_only=True),
    ParameterSpec('batch_timeout_ms', 10.0, 'cameras: wait at most this long after the first '
                  'frame for the batch to fill', min_value=0.0, max_value=1000.0),
    ParameterSpec('batch_mode', 'auto', 'cameras: batch = the newest frame of each camera as one '
                  'batched inference; per_camera = each frame its own inference as soon as it '
                  'arrives, a worker per camera sharing the one model (a CPU: a batch costs the '
                  'sum of its frames and waits for the slowest); auto = batch on a GPU, '
                  'per_camera on a CPU', choices=BATCH_MODES, read_only=True),
]


def resolve_batch_mode(mode: str, backend) -> str:
    """'batch' or 'per_camera' for the node parameter ``batch_mode`` on ``backend``: auto is a
    rule, not a start-up measurement (a few frames of a large model take seconds and a shared
    CPU's load would decide it): batch on a GPU, per_camera on a CPU."""
    if mode not in BATCH_MODES:
        raise ValueError(f"parameter 'batch_mode': {mode!r}; expected one of {BATCH_MODES}")
    if mode == 'auto':
        return 'batch' if getattr(backend, 'device', 'cpu') != 'cpu' else 'per_camera'
    return mode


def per_camera_workers(cameras: int, backend) -> int:
    """Workers of the per-camera mode. ``threads`` set: one per camera, as K single-camera nodes
    of ``threads`` each would run (measured: 2 workers for 4 cameras on 2 cores served 0.79x of
    4 separate nodes on this shared machine, where the kernel shares the CPU per runnable
    thread). ``threads`` 0 (the runtime's default: every core, spinning): one worker, so K
    inferences do not each claim every core. One where the backend cannot run concurrently."""
    if not getattr(backend, 'concurrent_runs', False) or int(backend.options.threads) <= 0:
        return 1
    return max(1, cameras)


def camera_layout(topics: Sequence[str], names: Sequence[str],
                  resolve: Optional[Callable[[str], str]] = None) -> List[tuple]:
    """(topic, name) per camera from the ``cameras`` and ``camera_names`` parameters (names
    default to cam0, cam1, ...); ParameterError, one line, when they do not fit: a topic or a
    name that breaks the ROS name rules, a topic given twice (``resolve``, the transport's
    name resolution, makes ``image`` and ``/image`` one topic in the root namespace), a name
    given twice. Checked before the model loads."""
    from video_perception import validate
    topics, names = list(topics), list(names)
    if not topics:
        if names:
            raise ParameterError("parameter 'camera_names' is set but 'cameras' is empty: "
                                 'expected one image topic per name')
        return []
    for topic in topics:
        validate.ros_name("parameter 'cameras'", topic, 'topic name', error=ParameterError)
    resolved = dict(zip(topics, topics))
    if resolve is not None:
        try:
            resolved = {t: resolve(t) for t in topics}
        except ValueError as exc:
            raise ParameterError(f"parameter 'cameras': {exc}") from None
    validate.distinct("parameter 'cameras'", topics, error=ParameterError, key=resolved.get)
    names = names or [f'cam{i}' for i in range(len(topics))]
    if len(names) != len(topics):
        raise ParameterError(f"parameter 'camera_names': {len(names)} names for "
                             f'{len(topics)} cameras; expected one per camera')
    for name in names:
        # a name is the prefix of its outputs: <name>/detections must be a valid topic
        validate.string("parameter 'camera_names'", name.strip('/') if isinstance(name, str)
                        else name, error=ParameterError)
        if validate.remappable_topic_problem(name.strip('/') + '/detections') is not None:
            validate.ros_name("parameter 'camera_names'", name.strip('/'), 'topic name',
                              error=ParameterError)
    names = validate.distinct("parameter 'camera_names'", [n.strip('/') for n in names],
                              error=ParameterError)
    return list(zip(topics, names))
