"""Frame sources: a rosbag2 image topic, an image folder, a video file or a canonical dataset.

One place that turns what a user points a tool at into a stream of frames with stamps, for
``replay`` (and meant for ``publish``). Frames are decoded only when asked (``SourceFrame.load``),
so a replay that drops a frame never pays for decoding it.

Stamps, per kind:

* rosbag2: the header stamp (normalised), the bag's receive time kept beside it; the header's
  ``frame_id`` is kept. ``CompressedImage`` and every ``Image`` encoding of ``image_codec``.
* image folder: files sorted naturally (``frame2`` before ``frame10``), stamp = index / fps.
* video file (anything ``cv2.VideoCapture`` opens): stamp = index / fps, fps from the container
  (``CAP_PROP_FPS``) unless given.
* canonical dataset JSON (or its folder): the images' ``timestamp`` (else frame_id / fps), one
  segment per video, in the file's video order then frame order; frames carry their image id.

Every frame is BGR uint8 [H, W, 3] when loaded.
"""
from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any, Callable, Iterator, Optional

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
    """

    index: int
    stamp_ns: int
    receive_ns: int
    frame_id: str
    load: Callable[[], np.ndarray]
    image_id: Optional[int] = None
    segment: Any = None


def natural_key(name: str) -> list:
    """Sort key that orders embedded numbers by value: 'f2.png' < 'f10.png'."""
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r'(\d+)', name)]


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
        kind: 'bag', 'folder', 'video' or 'dataset'.
        path: what was opened.
        count: number of frames if known up front (progress bars), else None.
        fps: the nominal frame rate where the source states one, else None.
        storage: for bags, 'sqlite3' or 'mcap'.
    """

    def __init__(self, path, topic: Optional[str] = None, fps: Optional[float] = None):
        self.path = pathlib.Path(path)
        self.topic = topic
        self.fps = float(fps) if fps else None
        self.storage = None
        self.count: Optional[int] = None
        self.dataset = None
        if fps is not None and not fps > 0:
            raise SourceError(f'--fps {fps}: expected a frame rate > 0')
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
            self._files = sorted((f for f in self.path.iterdir()
                                  if f.suffix.lower() in IMAGE_SUFFIXES),
                                 key=lambda f: natural_key(f.name))
            if not self._files:
                raise SourceError(f'image folder {self.path}: no images '
                                  f"({', '.join(IMAGE_SUFFIXES)}) and no metadata.yaml or "
                                  'dataset.json')
            self.count = len(self._files)
        else:
            self.kind = 'video'
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
                                  f"({', '.join(names)}); choose one with --topic")
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
            for i, item in enumerate(bag.images(self.topic)):
                msg = item.msg
                if isinstance(msg, msgs.CompressedImage):
                    load = (lambda m=msg: decode_compressed(m, 'bgr'))
                else:
                    load = (lambda m=msg: np.ascontiguousarray(decode_image_msg(m, 'bgr')))
                yield SourceFrame(i, item.stamp_ns, item.receive_ns, msg.header.frame_id or '',
                                  load)

    def _folder_frames(self) -> Iterator[SourceFrame]:
        fps = self.fps or DEFAULT_FPS
        for i, f in enumerate(self._files):
            ns = int(round(i * 1e9 / fps))
            yield SourceFrame(i, ns, ns, 'camera', lambda f=f: _read_image(f))

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


def open_source(path, topic: Optional[str] = None, fps: Optional[float] = None) -> FrameSource:
    """Opens a source by what it is on disk.

    Args:
        path: rosbag2 (directory or .db3/.mcap), image folder, video file, dataset JSON/folder.
        topic: the image topic of a bag with several.
        fps: frame rate for folder stamps (default 30) or to override a video's.
    Raises:
        SourceError, BagError or DatasetError (all ValueError) with a one-line message.
    """
    return FrameSource(path, topic, fps)
