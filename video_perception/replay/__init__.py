"""Streaming replay: a frame source through a detector as on the vehicle (``simulate``), the
ground-truth matching, scoring and outputs of ``video-perception replay``."""
