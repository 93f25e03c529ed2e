"""Frame sources: a rosbag2 image topic, an image folder, a video file, a canonical dataset or a
simulated camera.

The one place that turns what a user points a tool at into a stream of frames with stamps, for
``replay`` and ``publish``. Frames are decoded only when asked (``SourceFrame.load``), so a
replay that drops a frame never pays for decoding it.

Stamps, per kind:

* rosbag2: the header stamp (normalised), the bag's receive time kept beside it; the header's
  ``frame_id`` is kept, and the message itself (``SourceFrame.msg``) for tools that pass it on
  unchanged (a CompressedImage stays compressed). ``CompressedImage`` and every ``Image``
  encoding of ``image_codec``.
* image folder: files sorted naturally (``frame2`` before ``frame10``). Stamp = the nanoseconds
  that end every file name (Argoverse: ``ring_front_center_315976361109760008.jpg``, a trailing
  run of at least 16 digits; frame numbers are not stamps), else index / fps.
* video file (anything ``cv2.VideoCapture`` opens): stamp = index / fps, fps from the container
  (``CAP_PROP_FPS``) unless given.
* canonical dataset JSON (or its folder): the images' ``timestamp`` (else frame_id / fps), one
  segment per video, in the file's video order then frame order; frames carry their image id.
* simulated camera ``sim:WxH`` / ``camera-sim`` (640x480), only with ``simulated=True`` (it never
  ends): a gradient with a moving white square, stamp = index / fps.

``FrameSource.stamped`` says whether the stamps are the source's own (bag headers, file names,
dataset timestamps) or made up from the index and a frame rate.

Every frame is BGR uint8 [H, W, 3] when loaded.
"""
from __future__ import annotations

import dataclasses
import itertools
import pathlib
import re
from typing import Any, Callable, Iterator, Optional, Tuple

import numpy as np

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.ppm', '.pgm', '.webp')
DEFAULT_FPS = 30.0


class SourceError(ValueError):
    """A source that cannot be read; the message names it and says what was expected."""


@dataclasses.dataclass
class SourceFrame:
    """One frame of a source.

    index:      0-based position in the source.
    stamp_ns:   header stamp in nanoseconds (the input's clock).
    receive_ns: when a recorder received it (bags); equals ``stamp_ns`` for other kinds.
    frame_id:   the header's frame_id ('camera' where the source has none).
    load:       decodes the frame: BGR uint8 [H, W, 3].
    image_id:   the image id of a canonical dataset frame, else None.
    segment:    the video id of a dataset frame; None for single-stream sources.
    msg:        the bag's message (Image or CompressedImage) for bag frames, else None.
    """

    index: int
    stamp_ns: int
    receive_ns: int
    frame_id: str
    load: Callable[[], np.ndarray]
    image_id: Optional[int] = None
    segment: Any = None
    msg: Any = None


def natural_key(name) -> list:
    """Sort key that orders embedded numbers by value: 'f2.png' < 'f10.png'."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r'(\d+)', str(name))]


def list_images(folder) -> list:
    """Image files (``IMAGE_SUFFIXES``) directly in ``folder``, in natural name order."""
    files = [f for f in pathlib.Path(folder).iterdir()
             if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda f: natural_key(f.name))


def frame_number(path) -> int:
    """The frame number in a file name: its last group of digits ('0042.png' -> 42).

    Raises:
        ValueError: the name has no digits.
    """
    groups = re.findall(r'\d+', pathlib.Path(path).stem)
    if not groups:
        raise ValueError(f'frame file {path}: no frame number in its name')
    return int(groups[-1])


def stamp_from_name(name: str) -> Optional[int]:
    """Nanoseconds from a file stem ending in >= 16 digits, else None (frame numbers)."""
    match = re.search(r'(\d{16,})$', pathlib.Path(name).stem)
    return int(match.group(1)) if match else None


def parse_sim(source: str) -> Optional[Tuple[int, int]]:
    """(width, height) of ``sim:WxH`` or ``camera-sim`` (640x480); None for other sources."""
    source = str(source)
    if source == 'camera-sim':
        return 640, 480
    if not source.startswith('sim:'):
        return None
    try:
        w, h = (int(v) for v in source[4:].lower().split('x'))
    except ValueError:
        raise SourceError(f"source '{source}': expected sim:WIDTHxHEIGHT, e.g. sim:640x480")
    if w <= 0 or h <= 0:
        raise SourceError(f"source '{source}': width and height must be positive")
    return w, h


def sim_frames(width: int, height: int) -> Iterator[np.ndarray]:
    """A camera simulator: a colour gradient with a bright square moving across it (BGR)."""
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([(xx * 255 // max(width - 1, 1)), (yy * 255 // max(height - 1, 1)),
                     np.full_like(xx, 96)], axis=-1).astype(np.uint8)  # [H, W, 3] BGR
    side = max(4, min(width, height) // 5)
    for i in itertools.count():
        frame = base.copy()
        x = (i * 7) % max(width - side, 1)
        y = (i * 3) % max(height - side, 1)
        frame[y:y + side, x:x + side] = (255, 255, 255)
        yield frame


def is_bag(path: pathlib.Path) -> bool:
    """A rosbag2 directory (metadata.yaml) or a single .db3 / .mcap storage file."""
    path = pathlib.Path(path)
    return ((path.is_dir() and (path / 'metadata.yaml').exists())
            or (path.is_file() and path.suffix in ('.db3', '.mcap')))


def bag_storage(path: pathlib.Path) -> str:
    """'mcap' when the bag holds .mcap files, else 'sqlite3'."""
    path = pathlib.Path(path)
    if path.is_file():
        return 'mcap' if path.suffix == '.mcap' else 'sqlite3'
    return 'mcap' if any(path.glob('*.mcap')) else 'sqlite3'


def _is_dataset(path: pathlib.Path) -> bool:
    return ((path.is_file() and path.suffix.lower() == '.json')
            or (path.is_dir() and (path / 'dataset.json').is_file()))


def _read_image(path: pathlib.Path) -> np.ndarray:
    import cv2
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if frame is None:
        raise SourceError(f'image {path}: cannot read or decode it')
    return frame


class FrameSource:
    """Frames of one source; ``frames()`` can be iterated more than once.

    Attributes:
        kind: 'bag', 'folder', 'video', 'dataset' or 'sim'.
        path: what was opened.
        count: number of frames if known up front (progress bars), else None.
        fps: the nominal frame rate where the source states one, else None.
        storage: for bags, 'sqlite3' or 'mcap'.
        stamped: True when stamps come from the source itself, False when index / fps.
    """

    def __init__(self, path, topic: Optional[str] = None, fps: Optional[float] = None, *,
                 simulated: bool = False, on_skip: Optional[Callable[[str], None]] = None,
                 topic_flag: str = '--topic'):
        self.path = pathlib.Path(path)
        self.topic = topic
        self.fps = float(fps) if fps else None
        self.storage = None
        self.count: Optional[int] = None
        self.dataset = None
        self.stamped = True
        self._on_skip = on_skip
        self._topic_flag = topic_flag
        if fps is not None and not fps > 0:
            raise SourceError(f'--fps {fps}: expected a frame rate > 0')
        sim = parse_sim(path)
        if sim is not None:
            if not simulated:
                raise SourceError(f"source '{path}': a simulated camera never ends; expected a "
                                  'rosbag2, an image folder, a video file or a dataset JSON')
            self.kind, self._sim_size, self.stamped = 'sim', sim, False
            self.fps = self.fps or DEFAULT_FPS
            return
        if not self.path.exists():
            raise SourceError(f"source '{path}': no such file or folder (expected a rosbag2, an "
                              'image folder, a video file or a dataset JSON)')
        if is_bag(self.path):
            self.kind = 'bag'
            self._open_bag()
        elif _is_dataset(self.path):
            self.kind = 'dataset'
            self._open_dataset()
        elif self.path.is_dir():
            self.kind = 'folder'
            self._files = list_images(self.path)
            if not self._files:
                raise SourceError(f'image folder {self.path}: no images '
                                  f"({', '.join(IMAGE_SUFFIXES)}) and no metadata.yaml or "
                                  'dataset.json')
            self.count = len(self._files)
            self._stamps = [stamp_from_name(f.name) for f in self._files]
            self.stamped = all(ns is not None for ns in self._stamps)
        else:
            self.kind, self.stamped = 'video', False
            self._open_video()

    # -- opening ----------------------------------------------------------------------------------
    def _open_bag(self) -> None:
        from video_perception.bagio import open_bag
        self.storage = bag_storage(self.path)
        with open_bag(self.path) as bag:  # BagError: a one-line reason
            topics = bag.image_topics()
            names = [t.name for t in topics]
            if not topics:
                list(bag.images(self.topic))  # raises the reader's 'no image topic' error
            if self.topic is None and len(topics) > 1:
                raise SourceError(f"bag {self.path}: {len(topics)} image topics "
                                  f"({', '.join(names)}); choose one with {self._topic_flag}")
            if self.topic is not None and self.topic not in names:
                raise SourceError(f"bag {self.path}: topic '{self.topic}' is not an image topic; "
                                  f"image topics: {', '.join(names)}")
            self.topic = self.topic or names[0]
            self.count = next(t.count for t in topics if t.name == self.topic)

    def _open_dataset(self) -> None:
        from video_perception.dataset import load_video_dataset
        self.dataset = load_video_dataset(self.path)  # DatasetError: what is wrong
        self.path = self.dataset.root / self.dataset.name
        self.count = len(self.dataset.images)

    def _open_video(self) -> None:
        import cv2
        cap = cv2.VideoCapture(str(self.path))
        try:
            if not cap.isOpened():
                raise SourceError(f'source {self.path}: not a rosbag2, image folder, dataset JSON '
                                  'or a video OpenCV can open')
            if self.fps is None:
                fps = cap.get(cv2.CAP_PROP_FPS)
                self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else DEFAULT_FPS
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            self.count = n if n > 0 else None
        finally:
            cap.release()

    # -- iteration --------------------------------------------------------------------------------
    def frames(self) -> Iterator[SourceFrame]:
        """The frames in source order (see the module docstring for the stamps)."""
        yield from getattr(self, f'_{self.kind}_frames')()

    def _bag_frames(self) -> Iterator[SourceFrame]:
        from video_perception import msgs
        from video_perception.bagio import open_bag
        from video_perception.image_codec import decode_compressed, decode_image_msg
        with open_bag(self.path) as bag:
            for i, item in enumerate(bag.images(self.topic, on_skip=self._on_skip)):
                msg = item.msg
                if isinstance(msg, msgs.CompressedImage):
                    load = (lambda m=msg: decode_compressed(m, 'bgr'))
                else:
                    load = (lambda m=msg: np.ascontiguousarray(decode_image_msg(m, 'bgr')))
                yield SourceFrame(i, item.stamp_ns, item.receive_ns, msg.header.frame_id or '',
                                  load, msg=msg)

    def _folder_frames(self) -> Iterator[SourceFrame]:
        fps = self.fps or DEFAULT_FPS
        for i, (f, named_ns) in enumerate(zip(self._files, self._stamps)):
            ns = named_ns if self.stamped else int(round(i * 1e9 / fps))
            yield SourceFrame(i, ns, ns, 'camera', lambda f=f: _read_image(f))

    def _sim_frames(self) -> Iterator[SourceFrame]:
        for i, frame in enumerate(sim_frames(*self._sim_size)):
            ns = int(round(i * 1e9 / self.fps))
            yield SourceFrame(i, ns, ns, 'camera', lambda fr=frame: fr)

    def _video_frames(self) -> Iterator[SourceFrame]:
        import cv2
        cap = cv2.VideoCapture(str(self.path))
        try:
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                ns = int(round(i * 1e9 / self.fps))
                yield SourceFrame(i, ns, ns, 'camera', lambda fr=frame: fr)
                i += 1
            if i == 0:
                raise SourceError(f'video {self.path}: no frames could be decoded')
        finally:
            cap.release()

    def _dataset_frames(self) -> Iterator[SourceFrame]:
        ds = self.dataset
        i = 0
        for vid, ids in ds.frames.items():
            for iid in ids:
                ns = int(round(ds.timestamp(iid) * 1e9))
                path = ds.image_path(iid)
                yield SourceFrame(i, ns, ns, 'camera', lambda p=path: _read_image(p),
                                  image_id=iid, segment=vid)
                i += 1


def open_source(path, topic: Optional[str] = None, fps: Optional[float] = None, *,
                simulated: bool = False, on_skip: Optional[Callable[[str], None]] = None,
                topic_flag: str = '--topic') -> FrameSource:
    """Opens a source by what it is on disk (or ``sim:WxH`` / ``camera-sim``).

    Args:
        path: rosbag2 (directory or .db3/.mcap), image folder, video file, dataset JSON/folder,
            or a simulated camera where ``simulated`` is True.
        topic: the image topic of a bag with several.
        fps: frame rate for index stamps (folders without stamped names, simulated camera;
            default 30) or to override a video's.
        simulated: accept the endless simulated camera.
        on_skip: receives one line per bag topic that is skipped (not an image topic).
        topic_flag: the caller's option that chooses the bag topic, named in errors.
    Raises:
        SourceError, BagError or DatasetError (all ValueError) with a one-line message.
    """
    return FrameSource(path, topic, fps, simulated=simulated, on_skip=on_skip,
                       topic_flag=topic_flag)
