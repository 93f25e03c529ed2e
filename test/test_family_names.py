"""No runtime module outside a family's own names a family: the shared code asks the registry
(``video_perception/families/__init__.py``), so adding a family touches one module."""
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[1]
FAMILIES = ('streamnet', 'v2i')
# a family's own modules may name it
OWN = {'streamnet': ('video_perception/families/streamnet.py', 'streamnet_ros/'),
       'v2i': ('video_perception/families/v2i.py', 'v2i_ros/')}
# the registry's table of built-in families is the one shared place that names them
ALLOWED = ('video_perception/families/__init__.py',)
# a family name as a string literal, or a comparison of a family with a literal
LITERAL = re.compile(r"""(['"])({})\1""".format('|'.join(FAMILIES)))
COMPARE = re.compile(r"""family\s*(==|!=|\bin\b)\s*[('"]""")


def offending_lines(path: pathlib.Path, rel: str):
    out = []
    for no, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
        names = [m.group(2) for m in LITERAL.finditer(line)]
        named = [n for n in names if not rel.startswith(OWN[n])]
        if named or COMPARE.search(line):
            out.append(f'{rel}:{no}: {line.strip()}')
    return out


def test_no_shared_module_names_a_family():
    found = []
    for top in ('video_perception', 'streamnet_ros', 'v2i_ros', 'launch'):
        for path in sorted((REPO / top).rglob('*.py')):
            rel = path.relative_to(REPO).as_posix()
            if rel not in ALLOWED:
                found += offending_lines(path, rel)
    assert not found, 'family named outside its own module:\n' + '\n'.join(found)


def test_the_grep_sees_a_branch(tmp_path):
    """The patterns catch what they are for (a test that can fail)."""
    bad = tmp_path / 'bad.py'
    bad.write_text("if bundle.family == 'streamnet':\n    pass\nx = \"v2i\"\nok = 'v2i_node'\n")
    lines = offending_lines(bad, 'video_perception/bad.py')
    assert [ln.split(':')[1] for ln in lines] == ['1', '3']
    assert offending_lines(bad, 'v2i_ros/bad.py') == ['v2i_ros/bad.py:1: ' +
                                                      "if bundle.family == 'streamnet':"]


def test_replay_and_the_families_import_no_node_package():
    """ROS-free replay: the families, detector and replay never import the node packages."""
    import subprocess
    import sys
    code = ('import sys\n'
            'import video_perception.tools.replay, video_perception.replay.engine\n'
            'from video_perception.families import get_family, known_families\n'
            'for name in known_families():\n'
            '    get_family(name)\n'
            'bad = [m for m in sys.modules if m.split(".")[0] in '
            '("streamnet_ros", "v2i_ros", "rclpy", "training")]\n'
            'assert not bad, bad\n')
    res = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
