"""``model_path`` as a bundle NAME: where the shipped models are found.

``-p model_path:=streamnet_tiny_synth`` and ``video-perception build-engine streamnet_tiny_synth``
name a bundle installed with the package (setup.py puts ``models/<name>`` into
``share/video_perception/models``). A value that is an existing folder, or has a path separator,
is a path and is used as given. Names are looked up, first hit wins, in:

1. the ament index share folder of ``video_perception`` (a ``colcon build`` install);
2. ``<sys.prefix>/share/video_perception/models`` (``pip install`` into a venv or the system);
3. ``models/`` of the source tree (an editable install, ``make setup``).
"""
from __future__ import annotations

import os
import pathlib
import sys
from typing import List

PACKAGE = 'video_perception'


def bundle_roots() -> List[str]:
    """The folders holding installed bundles, in lookup order (existing ones only)."""
    roots = []
    try:
        from ament_index_python.packages import get_package_share_directory
        roots.append(os.path.join(get_package_share_directory(PACKAGE), 'models'))
    except Exception:  # noqa: BLE001 - no ament index, or the package is not in it
        pass
    roots.append(os.path.join(sys.prefix, 'share', PACKAGE, 'models'))
    roots.append(str(pathlib.Path(__file__).resolve().parents[1] / 'models'))
    seen = []
    for root in roots:
        if os.path.isdir(root) and root not in seen:
            seen.append(root)
    return seen


def resolve_model_path(value: str) -> str:
    """The bundle folder for ``value``: a path as given, or an installed bundle's folder by name.

    An unknown name comes back unchanged, so the loader's error names what the user typed.
    """
    if not value or os.path.isdir(value) or os.sep in value or (os.altsep or os.sep) in value:
        return value
    for root in bundle_roots():
        candidate = os.path.join(root, value)
        if os.path.isfile(os.path.join(candidate, 'model.json')):
            return candidate
    return value
