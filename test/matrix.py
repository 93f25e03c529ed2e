"""The runner of the reliability matrices (test_outputs_inputs, test_write_errors): one real
command in its own process, then the checks every row makes: the exit status, no traceback,
exactly one stderr line holding the expected words, the watched paths byte-for-byte as they
were, and no temporary folder (``OUT.tmp-PID``, ``.OUT.partial-PID``) left anywhere under tmp.
"""
from __future__ import annotations

import dataclasses
import pathlib
import subprocess
import sys
from typing import Callable, Dict, List, Optional

from engine_subprocess import child_env, REPO

MODELS = REPO / 'models'
SN = MODELS / 'streamnet_tiny_synth'
TEMP_MARKS = ('.tmp-', '.partial-', '.old-', '.tmp')


@dataclasses.dataclass
class Case:
    id: str
    argv: Callable[[pathlib.Path], List[str]]   # tmp -> the command line after the program;
    #                                             an argument 'OUT' stands for tmp/OUT
    rc: int
    expect: List[str]                           # all in one stderr line (case-blind)
    keep: List[str] = dataclasses.field(default_factory=list)  # tmp-relative, must not change
    absent: List[str] = dataclasses.field(default_factory=list)  # tmp-relative, must not exist
    cwd: str = ''                               # tmp-relative folder to run in
    env: Dict[str, str] = dataclasses.field(default_factory=dict)
    preexec: Optional[Callable[[], None]] = None  # run in the child before exec (rlimits)
    slow: bool = False                          # imports torch or runs long: not in make test
    program: str = 'video-perception'           # or an installed node: streamnet_node, v2i_node
    needs: Optional[pathlib.Path] = None        # skip when this data is absent


def params(cases: List[Case]) -> list:
    import pytest
    return [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else []) for c in cases]


def snapshot(path: pathlib.Path):
    if not path.exists() and not path.is_symlink():
        return None
    if path.is_file():
        return path.read_bytes()
    return sorted((str(p.relative_to(path)), p.read_bytes() if p.is_file() else None)
                  for p in path.rglob('*'))


def leftovers(root: pathlib.Path) -> List[str]:
    """Temporary files and folders a command left under ``root``."""
    return sorted(str(p.relative_to(root)) for p in root.rglob('*')
                  if any(m in p.name for m in TEMP_MARKS))


def check_refusal(r: subprocess.CompletedProcess, rc: int, expect: List[str]) -> str:
    """What every matrix row asserts of a refused command: exit status ``rc``, no traceback,
    exactly one stderr line holding all of ``expect`` (case-blind); returns stdout + stderr."""
    text = r.stdout + r.stderr
    assert 'Traceback' not in text, text[-3000:]
    assert r.returncode == rc, f'rc {r.returncode}: {text[-2000:]}'
    lines = [ln for ln in r.stderr.splitlines()
             if all(e.lower() in ln.lower() for e in expect)]
    assert len(lines) == 1, f'no single line with {expect}:\n{r.stderr[-2000:]}'
    return text


def run_program(program: str, argv: List[str], cwd: pathlib.Path, env: Dict[str, str],
                preexec: Optional[Callable[[], None]] = None) -> subprocess.CompletedProcess:
    """``video-perception ARGV`` (through the dispatcher) or an installed node executable, in its
    own process on the DDS transport (``env`` on top), output captured."""
    if program == 'video-perception':
        cmd = [sys.executable, '-m', 'video_perception.cli', *argv]
    else:
        cmd = [str(pathlib.Path(sys.executable).parent / program), *argv]
    return subprocess.run(cmd, cwd=cwd, env={**child_env(), 'VIDEO_PERCEPTION_TRANSPORT': 'dds',
                                             **env},
                          capture_output=True, text=True, timeout=300, preexec_fn=preexec)


def run_case(case: Case, tmp: pathlib.Path) -> subprocess.CompletedProcess:
    if case.needs is not None and not case.needs.exists():
        import pytest
        pytest.skip(f'{case.needs} is absent')
    argv = [str(tmp / 'OUT') if a == 'OUT' else a for a in case.argv(tmp)]
    before = {k: snapshot(tmp / k) for k in case.keep}
    old_temps = leftovers(tmp)
    r = run_program(case.program, argv, tmp / case.cwd, case.env, case.preexec)
    check_refusal(r, case.rc, case.expect)
    for k, snap in before.items():
        assert snapshot(tmp / k) == snap, f'{k} changed'
    for k in case.absent:
        assert not (tmp / k).exists(), f'{k} was made'
    assert leftovers(tmp) == old_temps, leftovers(tmp)
    return r
