"""``model_path`` accepts the NAME of an installed bundle (video_perception/model_paths.py):
looked up in the ament share folder, <prefix>/share/video_perception/models and the source
tree's models/; paths are used as given; unknown names reach the loader's one-line error."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from video_perception import model_paths
from video_perception.bundle import BundleError, load_bundle

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_shipped_name_resolves_to_the_source_tree_models():
    b = load_bundle('streamnet_tiny_synth')
    assert pathlib.Path(b.root) == REPO / 'models' / 'streamnet_tiny_synth'
    assert b.family == 'streamnet'


def test_prefix_share_comes_before_the_source_tree(tmp_path, monkeypatch):
    share = tmp_path / 'share' / 'video_perception' / 'models' / 'streamnet_tiny_synth'
    share.mkdir(parents=True)
    (share / 'model.json').write_text(json.dumps({}))
    monkeypatch.setattr(sys, 'prefix', str(tmp_path))
    assert model_paths.resolve_model_path('streamnet_tiny_synth') == str(share)


def test_paths_and_unknown_names_unchanged(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'streamnet_tiny_synth').mkdir()          # a folder here wins over the name
    assert model_paths.resolve_model_path('streamnet_tiny_synth') == 'streamnet_tiny_synth'
    assert model_paths.resolve_model_path('./x/y') == './x/y'
    with pytest.raises(BundleError, match="'no_such_bundle': not a directory"):
        load_bundle('no_such_bundle')


def test_setup_py_installs_models_launch_config(tmp_path):
    """A real (non-editable) install puts the shipped bundles, launch/ and config/ under
    share/video_perception, where the resolver looks, and the launch files' helper module in
    the package."""
    target = tmp_path / 'inst'
    res = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps',
                          '--no-build-isolation', '--no-index', '--target', str(target),
                          str(REPO)], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, PIP_NO_CACHE_DIR='1'))
    assert res.returncode == 0, res.stderr
    share = target / 'share' / 'video_perception'
    for name in sorted(p.name for p in (REPO / 'models').iterdir() if p.is_dir()):
        assert (share / 'models' / name / 'model.json').is_file(), name
    assert (share / 'launch' / 'v2i.launch.py').is_file()
    # what the one-camera launch files import, beside the package they launch
    assert (target / 'video_perception' / 'ros_launch.py').is_file()
    assert (share / 'config' / 'fastdds_localhost.xml').is_file()
    assert (share / 'package.xml').is_file()


def test_node_starts_from_a_bundle_name(ros_domain):
    """v2i_node -p model_path:=<shipped name> serves: its LabelInfo reaches echo."""
    bin_dir = pathlib.Path(sys.executable).parent
    env = dict(os.environ, VIDEO_PERCEPTION_TRANSPORT='dds', OMP_NUM_THREADS='1')
    node = subprocess.Popen([str(bin_dir / 'v2i_node'), '--ros-args', '-p',
                             'model_path:=v2i_distill_tiny_vocalfolds', '-p', 'threads:=1'],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        echo = subprocess.run([str(bin_dir / 'video-perception'), 'echo', '/detections/labels',
                               '--type', 'vision_msgs/msg/LabelInfo', '--count', '1',
                               '--timeout', '60'], env=env, capture_output=True, text=True,
                              timeout=90)
    finally:
        node.terminate()
        _, err = node.communicate(timeout=30)
    assert echo.returncode == 0, (echo.stderr, err)
    assert 'classes=[0:' in echo.stdout, echo.stdout
