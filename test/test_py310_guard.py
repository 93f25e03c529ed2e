"""The runtime (video_perception/, streamnet_ros/, v2i_ros/) stays on Python 3.10: Humble's.

Two static checks, judged by a real Python 3.10 (the tier venv's, else python3.10 on PATH or in
pyenv), not by a list of what changed: (1) every module compiles under 3.10 (syntax: ``except*``,
``type X = ...``, PEP 701 f-strings, ...); (2) every standard-library name the runtime uses
exists in 3.10's standard library: each ``import m``, ``from m import n`` and ``m.attr`` on an
imported stdlib module (``tomllib``, ``typing.Self``, ``datetime.UTC``, ``enum.StrEnum``,
``itertools.batched`` would all fail). Third-party libraries are the 3.10 tier's to check (the
node runs there, test_python_tiers.py). Without a 3.10 interpreter the checks skip; with
CI=true they fail.
"""
import ast
import glob
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
RUNTIME = ('video_perception', 'streamnet_ros', 'v2i_ros')
STDLIB = set(sys.stdlib_module_names)      # this interpreter's (3.11+): holds 3.11's additions

CHECK_310 = r'''
import importlib, json, sys
assert sys.version_info[:2] == (3, 10), sys.version
files, uses = json.load(sys.stdin)
bad = []
for path in files:
    try:
        compile(open(path, encoding='utf-8').read(), path, 'exec', dont_inherit=True)
    except SyntaxError as exc:
        bad.append(f'{path}:{exc.lineno}: does not compile on 3.10: {exc.msg}')
for where, module, name in uses:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        bad.append(f'{where}: no module {module} in 3.10')
        continue
    if name and not hasattr(mod, name):
        try:
            importlib.import_module(f'{module}.{name}')
        except ImportError:
            bad.append(f'{where}: {module}.{name} is not in 3.10')
print(json.dumps(bad))
'''


def python310() -> str:
    tier = REPO / '.venv-py3.10' / 'bin' / 'python'
    root = os.environ.get('PYENV_ROOT', os.path.expanduser('~/.pyenv'))
    for cand in [str(tier), shutil.which('python3.10') or '',
                 *sorted(glob.glob(f'{root}/versions/3.10.*/bin/python3.10'))]:
        # a fresh worktree has no tier venv yet: a missing candidate is skipped, not an error
        if cand and os.path.exists(cand) and subprocess.run(
                [cand, '-c', 'import sys; assert sys.version_info[:2] == (3, 10)'],
                capture_output=True).returncode == 0:
            return cand
    reason = 'no Python 3.10 here (the tier venv, PATH, pyenv): the 3.10 guard cannot run'
    if os.environ.get('CI', '').strip().lower() in ('1', 'true', 'yes'):
        pytest.fail(reason + ' (CI=true)')
    pytest.skip(reason)


def stdlib_uses(path: pathlib.Path, rel: str):
    """[(file:line, module, name or '')] for the standard library names ``path`` uses."""
    try:
        tree = ast.parse(path.read_text(encoding='utf-8'), str(path))
    except SyntaxError:
        return []                                 # the 3.10 compile reports it
    aliases = {}                                  # local name -> stdlib module it is bound to
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split('.')[0] in STDLIB:
                    uses.append((f'{rel}:{node.lineno}', a.name, ''))
                    aliases[a.asname or a.name.split('.')[0]] = a.name if a.asname else \
                        a.name.split('.')[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module \
                and node.module.split('.')[0] in STDLIB and node.module != '__future__':
            for a in node.names:
                uses.append((f'{rel}:{node.lineno}', node.module, a.name))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases:
            uses.append((f'{rel}:{node.lineno}', aliases[node.value.id], node.attr))
    return uses


def run_guard(python: str, files, root: pathlib.Path):
    uses = []
    for path in files:
        uses += stdlib_uses(path, path.relative_to(root).as_posix())
    res = subprocess.run([python, '-I', '-c', CHECK_310], input=json.dumps(
        [[str(f) for f in files], sorted(set(uses))]), capture_output=True, text=True,
        timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout), len(uses)


def test_the_runtime_is_python_310():
    python = python310()
    files = sorted(p for top in RUNTIME for p in (REPO / top).rglob('*.py'))
    assert len(files) > 70
    bad, n_uses = run_guard(python, files, REPO)
    assert n_uses > 300                           # it saw the imports
    assert not bad, 'newer than Python 3.10:\n' + '\n'.join(bad)


def test_the_guard_catches_311_and_312(tmp_path):
    python = python310()
    (tmp_path / 'new.py').write_text(
        'import tomllib\nimport datetime as dt\nfrom typing import Self, Optional\n'
        'import enum, itertools, os.path\n'
        'now = dt.UTC\nclass E(enum.StrEnum):\n    A = "a"\n'
        'batches = itertools.batched([1, 2], 1)\nx = os.path.join("a")\n')
    (tmp_path / 'syntax.py').write_text('try:\n    pass\nexcept* ValueError:\n    pass\n')
    (tmp_path / 'pep695.py').write_text('type Pair = tuple[int, int]\n')
    (tmp_path / 'ok.py').write_text('from __future__ import annotations\n'
                                    'def f(x: int | None) -> list[int]:\n'
                                    '    match x:\n        case None:\n            return []\n'
                                    '    return [x]\n')
    bad, _ = run_guard(python, sorted(tmp_path.glob('*.py')), tmp_path)
    text = '\n'.join(bad)
    for expected in ('new.py:1: no module tomllib', 'new.py:5: datetime.UTC',
                     'new.py:3: typing.Self', 'new.py:6: enum.StrEnum',
                     'new.py:8: itertools.batched', 'syntax.py:3: does not compile',
                     'pep695.py:1: does not compile'):
        assert expected in text, (expected, text)
    assert 'ok.py' not in text and 'Optional' not in text and 'os.path' not in text
    assert len(bad) == 7, text
