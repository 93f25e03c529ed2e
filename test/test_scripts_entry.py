"""The scripts behind the make targets import the installed package (no ``sys.path`` edits) and
start from any working directory; every script the docs tell a user to run has a make target."""
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('script', ['demo.py', 'bench.py', 'evidence_streamnet.py'])
def test_script_starts_outside_the_repo(script, tmp_path):
    res = subprocess.run([sys.executable, str(REPO / 'scripts' / script), '--help'],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert 'usage:' in res.stdout


def test_docs_run_scripts_through_make_targets():
    makefile = (REPO / 'Makefile').read_text()
    targets = set(re.findall(r'^([\w-]+(?: [\w-]+)*):', makefile, re.M))
    targets = {t for group in targets for t in group.split()}
    for doc in ('README.md', 'docs/EVIDENCE.md'):
        text = (REPO / doc).read_text()
        # a command line starting a script directly: `python scripts/x.py`, `scripts/x.sh`
        direct = re.findall(r'^(?:\S*python\S* )?scripts/\S+', text, re.M)
        assert not direct, f'{doc}: run through make instead: {direct}'
        for target in re.findall(r'`make ([\w-]+)`|^make ([\w-]+)', text, re.M):
            name = target[0] or target[1]
            assert name in targets, f'{doc}: make {name} is not a Makefile target'
