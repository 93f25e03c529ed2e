"""Inference backends behind one interface (``base.Backend``), picked by ``select.load_backend``.
"""
from video_perception.backends.base import (BACKEND_NAMES, Backend, BackendError,
                                            BackendOptions)

__all__ = ['BACKEND_NAMES', 'Backend', 'BackendError', 'BackendOptions']
