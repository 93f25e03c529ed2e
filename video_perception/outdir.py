"""Output folders that are never overwritten or mixed by accident, and never left half-made.

Every command that writes a folder (``synth``, ``convert``, ``export``, ``train``) goes through
``output_dir``:

- an existing folder with anything in it is refused unless ``force`` (one line naming it and the
  flag), so a typo in OUT cannot mix two datasets or replace a bundle the robot uses;
- by default the command writes into a hidden sibling ``.NAME.partial-PID`` which is renamed onto
  OUT only when the command succeeded (the old folder, with ``force``, is swapped out first and
  removed after), so OUT is either the old content or the complete new one, never a mixture
  (a SIGTERM that a library swallowed mid-work is raised again before the rename, and the
  sibling goes);
  siblings keep relative paths (``../frames/x.jpg``) valid after the rename;
- ``in_place=True`` is for outputs that must survive a crash (a training run's checkpoints, for
  ``resume=auto``): the command writes into OUT itself, and on failure OUT is removed only when
  this call created it and ``keep(OUT)`` finds nothing worth keeping.

Every command that writes (``replay``, ``convert``, ``synth``, ``export``, ``import``, ``train``,
``evaluate --out``, ``scripts/bench.py``) first calls ``check_apart(outputs, inputs)``: an output
that is, contains or lies inside one of its inputs (or is or contains the current folder) is
refused before any work, ``--force`` or not, in one line naming both (``OverlapError``, a
ValueError; the commands exit 2). ``error_line`` is the one line a command prints for an error,
naming the file and the cause of a write error (a full disk).
"""
from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import shutil
from typing import Callable, Dict, Iterator, Optional

from video_perception.tools.cli_common import raise_if_stopped


# a full disk, a file over the size limit, a quota, a read-only or failing device
WRITE_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EIO)


class OverlapError(ValueError):
    """An output that is one of the command's inputs, contains one, or lies inside one."""


def _real(path) -> str:
    # realpath: symlinks of every existing component and `..` resolved (the path need not exist)
    return os.path.realpath(os.path.expanduser(os.fspath(path)))


def _relation(out: str, inp: str) -> Optional[str]:
    """How the resolved output ``out`` stands to the resolved input ``inp`` (None: apart)."""
    if out == inp or (os.path.exists(out) and os.path.exists(inp) and os.path.samefile(out, inp)):
        return 'is'
    if inp.startswith(out.rstrip(os.sep) + os.sep):
        return 'contains'
    if out.startswith(inp.rstrip(os.sep) + os.sep):
        return 'lies inside'
    return None


def check_apart(outputs: Dict[str, object], inputs: Dict[str, object],
                guard_cwd: bool = True) -> None:
    """Refuses an output that is, contains or lies inside one of the command's inputs.

    Every command that writes calls this first, before any work and whatever ``--force`` says:
    an output folder replaced with ``--force`` deletes what it contains, and one written inside
    an input changes what the command reads (or, replaced, deletes the input itself). Paths are
    compared after resolving symlinks and ``..``; an output that is or contains the current
    folder is refused too (``--force`` would delete where the user stands).

    Args:
        outputs: how the error line names each output ('--out') -> its path.
        inputs: how the error line names each input ('SOURCE', '--gt') -> its path; None or ''
            values are skipped (an option not given).

    Raises:
        OverlapError (a ValueError): one line naming both paths.
    """
    if guard_cwd:
        inputs = {**inputs, 'the current folder': os.getcwd()}
    for oname, opath in outputs.items():
        if opath in (None, ''):
            continue
        out = _real(opath)
        for iname, ipath in inputs.items():
            if ipath in (None, ''):
                continue
            rel = _relation(out, _real(ipath))
            if rel is None or (rel == 'lies inside' and iname == 'the current folder'):
                continue
            shown = f'{iname} {str(ipath)!r}'
            raise OverlapError(f'{oname} {str(opath)!r} {rel} {shown} (resolved: {out}); '
                               'expected an output apart from the inputs (another path)')


def error_line(exc: BaseException, out=None) -> str:
    """One line for an error a command reports: an OSError names its path and cause
    (``/x/results.json: cannot write (No space left on device)``; a writer that did not say
    which file is named by the command's output ``out``), others their first line."""
    if isinstance(exc, OSError) and exc.strerror and (exc.filename or out is not None):
        verb = 'cannot write' if exc.errno in WRITE_ERRNOS else 'failed'
        where = exc.filename if exc.filename else f'{out} (a file in it)'
        line = f'{where}: {verb} ({exc.strerror})'
    else:
        line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if out is not None:  # the path the user gave, not the temporary sibling that is gone
        line = line.replace(str(_partial(pathlib.Path(out))), str(out))
    return line


def _partial(path: pathlib.Path) -> pathlib.Path:
    return path.parent / f'.{path.name}.partial-{os.getpid()}'


def check_writable(path, force: bool = False, what: str = 'output folder',
                   hint: str = 'pass --force to replace it') -> pathlib.Path:
    """``path`` as a Path when a command may write it; ValueError otherwise (one line)."""
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f'{what} {str(path)!r} exists and is not a folder; expected a folder '
                         f'path')
    if path.is_dir() and any(path.iterdir()) and not force:
        raise ValueError(f'{what} {str(path)!r} already exists and is not empty; expected a new '
                         f'or empty folder ({hint})')
    return path


def _make_parents(path: pathlib.Path) -> Optional[pathlib.Path]:
    """``mkdir -p`` of ``path``'s parent; returns the topmost folder it created (or None)."""
    missing = [p for p in path.absolute().parents if not p.exists()]
    path.parent.mkdir(parents=True, exist_ok=True)
    return missing[-1] if missing else None


def _remove(path: pathlib.Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def output_dir(path, force: bool = False, what: str = 'output folder', in_place: bool = False,
               keep: Optional[Callable[[pathlib.Path], bool]] = None,
               hint: str = 'pass --force to replace it',
               reuse: bool = False) -> Iterator[pathlib.Path]:
    """Yields the folder to write into; see the module doc for what happens at the end.

    Args:
        path: the output folder (OUT).
        force: replace a non-empty OUT (``in_place``: empty it first).
        what: how error lines name OUT ('bundle folder', 'run folder').
        in_place: write into OUT directly (resumable outputs) instead of a temporary sibling.
        keep: with ``in_place``, whether a failed run's OUT holds something to keep.
        hint: what the refusal line tells the user to do.
        reuse: with ``in_place``, go on writing into a non-empty OUT as it is (a resumed run).

    Raises:
        ValueError: OUT is a file, or a non-empty folder without ``force``.
    """
    path = check_writable(path, force or (in_place and reuse), what, hint)
    parents = _make_parents(path)  # removed again on failure: a typo leaves no folders behind
    if in_place:
        created = not path.exists()
        if force and not created:
            for child in path.iterdir():
                _remove(child)
        path.mkdir(exist_ok=True)
        try:
            yield path
        except BaseException:
            if created and not (keep and keep(path)):
                _remove(parents or path)
            raise
        return
    tmp = _partial(path)
    _remove(tmp)  # left by an earlier process with this pid that was killed
    tmp.mkdir()
    try:
        yield tmp
        raise_if_stopped()  # a stop a library swallowed mid-work: not renamed, removed
    except BaseException:
        _remove(parents or tmp)
        raise
    old = path.parent / f'.{path.name}.old-{os.getpid()}'
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    _remove(old)


def final_path(written, tmp: pathlib.Path, out) -> pathlib.Path:
    """Where a file ``written`` under ``tmp`` lives once ``tmp`` became ``out``."""
    return pathlib.Path(out) / pathlib.Path(written).relative_to(tmp)
