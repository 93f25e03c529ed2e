"""No import cycles among the project's modules: a new one fails here.

The graph is read from the source (an AST walk, nothing imported): every ``import`` and
``from ... import`` statement, at module level or inside a function, is an edge from the
importing module to the most specific project module it names (``from a.b import c`` goes to
``a.b.c`` when that is a module, else to ``a.b``; relative imports resolved against the package).
A function-local import does not make a cycle harmless: it only delays it. Imports by string
(``importlib.import_module``, the family registries' tables) are not edges: a registry names
the plugins it loads on demand, and the plugins import what they build on. The reference the
test compares against is Tarjan's strongly connected components of that graph, checked here
on hand-made packages whose cycles are known.
"""
from __future__ import annotations

import ast
import functools
import pathlib
import sys
from typing import Dict, Iterable, List, Set

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ('video_perception', 'training', 'streamnet_ros', 'v2i_ros')
SCRIPT_DIRS = ('scripts',)       # run as scripts: they import each other by bare name


def project_modules(root: pathlib.Path, packages: Iterable[str] = PACKAGES,
                    script_dirs: Iterable[str] = SCRIPT_DIRS) -> Dict[str, tuple]:
    """Dotted module name -> (path, is a package's __init__)."""
    mods = {}
    for top in packages:
        for path in sorted((root / top).rglob('*.py')):
            parts = list(path.relative_to(root).with_suffix('').parts)
            is_pkg = parts[-1] == '__init__'
            mods['.'.join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    for folder in script_dirs:
        for path in sorted((root / folder).glob('*.py')):
            mods[path.stem] = (path, False)
    return mods


def import_edges(name: str, mods: Dict[str, tuple]) -> Set[str]:
    """The project modules that module ``name`` imports, anywhere in its body."""
    path, is_pkg = mods[name]
    package = name if is_pkg else name.rpartition('.')[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in mods)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            for alias in node.names:
                sub = f'{target}.{alias.name}'
                if sub in mods:
                    out.add(sub)
                elif target in mods:
                    out.add(target)
    out.discard(name)
    return out


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def graph_of(root: pathlib.Path, **kw) -> Dict[str, Set[str]]:
    mods = project_modules(root, **kw)
    return {m: import_edges(m, mods) for m in mods}


@functools.lru_cache(maxsize=1)
def repo_graph() -> Dict[str, Set[str]]:
    return graph_of(REPO)


def describe(graph, comp) -> str:
    return '; '.join(f'{m} -> {", ".join(sorted(graph[m] & set(comp)))}' for m in comp)


def test_the_project_has_no_import_cycle():
    graph = repo_graph()
    assert len(graph) > 150 and 'video_perception.node_runner' in graph   # it saw the tree
    found = cycles(graph)
    assert not found, 'import cycles (move the shared piece down):\n' + '\n'.join(
        describe(graph, c) for c in found)


def _write(root: pathlib.Path, files: Dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_walk_finds_known_cycles(tmp_path):
    """Hand-made packages: a function-level circle, a relative one through a package
    ``__init__``, a three-module ring, a script pair; and what is not a cycle."""
    _write(tmp_path, {
        'pkg/__init__.py': 'from pkg.errors import Error\n',
        'pkg/errors.py': 'class Error(Exception):\n    pass\n',
        # a <-> b only through a function-local import
        'pkg/a.py': 'from pkg import b\n',
        'pkg/b.py': 'def f():\n    from pkg.a import x\n    return x\n',
        # sub/__init__ <-> sub/impl, relative
        'pkg/sub/__init__.py': 'from .impl import thing\n',
        'pkg/sub/impl.py': 'from . import helper\nfrom .. import sub\n',
        'pkg/sub/helper.py': 'import os\n',
        # a ring of three
        'pkg/r1.py': 'import pkg.r2\n', 'pkg/r2.py': 'from pkg.r3 import y\n',
        'pkg/r3.py': 'class C:\n    def m(self):\n        import pkg.r1\n',
        # a one-way chain and a string import: no cycle
        'pkg/low.py': 'import importlib\nM = importlib.import_module("pkg.high")\n',
        'pkg/high.py': 'from pkg.low import M\n',
        'scripts/s1.py': 'import s2\n', 'scripts/s2.py': 'def g():\n    import s1\n',
    })
    graph = graph_of(tmp_path, packages=('pkg',), script_dirs=('scripts',))
    assert graph['pkg.sub.impl'] == {'pkg.sub.helper', 'pkg.sub'}
    assert graph['pkg'] == {'pkg.errors'}
    assert sorted(cycles(graph)) == [['pkg.a', 'pkg.b'], ['pkg.r1', 'pkg.r2', 'pkg.r3'],
                                     ['pkg.sub', 'pkg.sub.impl'], ['s1', 's2']]


def test_the_four_former_circles_stay_open():
    """The pairs issue 22 removed, each now one way only."""
    graph = repo_graph()
    for low, high in (('training.twin', 'training.check_bundle'),
                      ('training.twin', 'training.export'),
                      ('video_perception.errors', 'video_perception.families'),
                      ('video_perception.node_core', 'video_perception.multi_camera'),
                      ('video_perception.tools.replay_common', 'video_perception.tools.replay'),
                      ('video_perception.tools.replay_common',
                       'video_perception.tools.replay_multi')):
        assert low in graph[high] and high not in graph[low], (low, high)
    assert 'training.export' not in graph['training.check_bundle']
    assert 'video_perception.bundle' not in graph['video_perception.families']
    assert 'video_perception.multi_camera' not in graph['video_perception.node_core']
    assert 'video_perception.tools.replay' not in graph['video_perception.tools.replay_multi']


if __name__ == '__main__':
    g = graph_of(REPO)
    for comp in cycles(g):
        print(describe(g, comp))
    sys.exit(bool(cycles(g)))
