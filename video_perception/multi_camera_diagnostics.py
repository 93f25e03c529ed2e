"""The diagnostics of a node serving several cameras: one DiagnosticStatus a camera (its rate,
counts, latency, silence, buffer resets, Streamer) and one for the shared model (batch mode,
workers, batch fill and wait), read by ``node_runner`` at the diagnostics period. A mixin of
``multi_camera.MultiCameraCore``, apart from the serving loop so that each stays small."""
from __future__ import annotations

import time
from typing import List

import numpy as np

from video_perception.multi_camera_plan import DEAD_PERIODS


class CameraDiagnostics:
    """``camera_values``, ``camera_level`` and ``batch_values`` of a ``MultiCameraCore``
    (its ``cameras``, ``detector``, ``streaming``, ``mode``, ``workers``, ``batches``, ``fill``,
    ``wait`` and ``params``)."""

    def camera_values(self, index: int) -> List[tuple]:
        """(key, value) strings of one camera's DiagnosticStatus."""
        cam = self.cameras[index]
        det = self.detector.detectors[index]
        silent = (time.monotonic() - cam.last_arrival) if cam.last_arrival else float('nan')
        values = [
            ('rate_hz', f'{cam.rate_hz():.2f}'),
            ('frames_received', str(cam.counts['received'])),
            ('frames_processed', str(cam.counts['processed'])),
            ('frames_dropped', str(cam.counts['dropped'])),
            ('batch_slots_skipped', str(cam.counts['skipped'])),
            ('bad_frames', str(cam.counts['bad_frames'])),
            ('failed_frames', str(cam.counts['failed_frames'])),
            ('latency_ms_median', f'{cam.latency.median():.2f}'),
            ('latency_ms_p95', f'{cam.latency.p95():.2f}'),
            ('buffer_resets', str(det.resets)),
            ('silent_s', f'{silent:.2f}'),
        ] + [kv for kv in det.diagnostics() if kv[0] != 'buffer_resets']
        values += self.streaming.diagnostics(index)
        return values + [('last_error', cam.last_error)] if cam.last_error else values

    def camera_level(self, index: int) -> tuple:
        """(level, message) of one camera's DiagnosticStatus: 1 (warn) before its first image,
        while it is silent or once it had bad or failed frames."""
        cam = self.cameras[index]
        period = cam.period_s()
        if cam.last_arrival is None:
            return 1, f'camera {cam.name}: no images received yet'
        if period and time.monotonic() - cam.last_arrival > DEAD_PERIODS * period:
            return 1, f'camera {cam.name}: silent, its batch slot is skipped'
        if cam.counts['bad_frames'] or cam.counts['failed_frames']:
            return 1, (f"camera {cam.name}: {cam.counts['bad_frames']} bad and "
                       f"{cam.counts['failed_frames']} failed frames so far")
        return 0, f'camera {cam.name}: serving'

    def batch_values(self) -> List[tuple]:
        """(key, value) strings of the shared model's DiagnosticStatus."""
        det = self.detector.detectors[0]
        return [('backend', str(det.backend_description)),
                ('cameras', str(len(self.cameras))),
                ('batch_mode', self.mode),
                ('workers', str(self.workers)),
                ('batches', str(self.batches)),
                ('batch_fill_ratio_mean', f'{np.mean(self.fill) if self.fill else 0.0:.3f}'),
                ('batch_wait_ms_median', f'{self.wait.median():.2f}'),
                ('batch_wait_ms_p95', f'{self.wait.p95():.2f}'),
                ('batch_timeout_ms', f"{float(self.params.get('batch_timeout_ms', 10.0)):.1f}"),
                ('model_ms', f'{det.model_ms:.2f}')]
