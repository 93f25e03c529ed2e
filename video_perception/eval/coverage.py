"""Which part of the ground truth a results file covers, so that ``evaluate`` scores that part.

A results file for some of the GT's videos must not be averaged over all of them (the rest would
count as misses). Coverage is what the file claims to have processed: its ``outputs`` list, where
a frame with no detection still has its entry (so a video whose outputs are all empty is
covered). The unit is the video: a covered video is scored whole, and its frames without an
output stay misses (offline) or are served the latest output (streaming). Images without a
``video_id`` are each their own unit.

A plain COCO results list has no ``outputs``: it names only the images with a detection. A video
is then covered when any of its images has one; on ground truth without videos every image
counts, as COCO does, since an image without detections cannot be told from one not processed.
"""
from __future__ import annotations

import dataclasses

from video_perception.eval.results import GroundTruth, Results


@dataclasses.dataclass
class Coverage:
    """unit: 'video' or 'image'; covered / total: how many of them the results cover;
    left_out: the ids not covered (first ones); images: GT images scored, of ``gt_images``."""

    unit: str
    covered: int
    total: int
    left_out: list
    images: int
    gt_images: int
    listed: bool

    def report(self) -> dict:
        """The report's ``coverage`` entry."""
        return dataclasses.asdict(self)

    def line(self) -> str:
        how = '' if self.listed else \
            ' (a COCO results list names only the images with a detection)'
        ids = ', '.join(str(v) for v in self.left_out[:5])
        ids += ', ...' if len(self.left_out) > 5 else ''
        return (f'the results cover {self.covered} of the {self.total} GT {self.unit}s{how}: '
                f'scoring those only ({self.images} of {self.gt_images} images; left out: '
                f'{ids})')


def covered_ground_truth(gt: GroundTruth, results: Results
                         ) -> tuple[GroundTruth, Coverage | None]:
    """(the GT restricted to what ``results`` covers, its ``Coverage``; None when it covers all).

    Raises:
        ValueError: the results cover no GT image at all (one line).
    """
    claimed = [i for i in results.outputs if i in gt.images]
    if not claimed:
        raise ValueError(f'results: none of its {len(results.outputs)} outputs is a GT image; '
                         'nothing to score (expected input_image_id values of the ground truth)')
    if gt.videos is not None:
        covered = {gt.images[i]['video_id'] for i in claimed}
        left_out = [v for v in gt.videos if v not in covered]
        keep = [i for v in covered for i in gt.videos[v]]
        unit, total = 'video', len(gt.videos)
    elif results.listed:
        keep, unit, total = claimed, 'image', len(gt.images)
        left_out = sorted(set(gt.images) - set(keep))
    else:
        return gt, None
    if not left_out:
        return gt, None
    return gt.restrict(keep), Coverage(unit, total - len(left_out), total, left_out, len(keep),
                                       len(gt.images), results.listed)
