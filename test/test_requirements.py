"""The requirement files agree and the runtime set installs where users are.

requirements.txt (run time ranges) and requirements-train.txt must be satisfied by the exact pins
`make setup` installs (requirements-dev.txt), so the tested environment is one users can get;
the runtime ranges must resolve for Python 3.10 (Humble) and 3.12 (Jazzy) with numpy 1.x.
"""
import pathlib
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = pathlib.Path(__file__).resolve().parents[1]


def read(name):
    lines = (line.split('#')[0].strip() for line in (REPO / name).read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith('-')]


def test_dev_pins_satisfy_the_ranges():
    pins = {canonicalize_name(r.name): next(iter(r.specifier)).version
            for r in read('requirements-dev.txt')}
    for req in read('requirements.txt') + read('requirements-train.txt'):
        name = canonicalize_name(req.name)
        if name == 'torch':
            continue                      # the Makefile's TORCH_PIN, not requirements-dev.txt
        assert name in pins, f'{req.name} has no pin in requirements-dev.txt'
        assert req.specifier.contains(pins[name], prereleases=True), (str(req), pins[name])


def test_runtime_has_no_training_or_test_tools():
    names = {canonicalize_name(r.name) for r in read('requirements.txt')}
    assert not names & {'torch', 'onnx', 'onnxscript', 'tensorboard', 'pytest', 'hypothesis',
                        'flake8', 'scipy', 'pycocotools', 'matplotlib'}
    numpy, = [r for r in read('requirements.txt') if r.name == 'numpy']
    assert numpy.specifier.contains('1.21.5')          # Humble's (Ubuntu 22.04) numpy


@pytest.mark.slow
@pytest.mark.parametrize('python', ['3.10', '3.12'])
def test_runtime_resolves_for_humble_and_jazzy_pythons(tmp_path, python):
    """Needs the package index (CI has it)."""
    res = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--dry-run', '-q', '--python-version', python,
         '--only-binary=:all:', '--ignore-installed', '--target', str(tmp_path / 't'),
         '-r', str(REPO / 'requirements.txt'), 'numpy<2'],
        capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
