"""The training side's family registry (training/families/): keyed by the family NAME as the
runtime's registry is, each model name of the zoos in exactly one family, each family's exporter
the existing one; the references are the zoos' own tables and the runtime registry."""
import pathlib
import re

import pytest

from training import export, families
from training.models.detr import zoo as detr_zoo
from training.models.streamnet import zoo as streamnet_zoo
from video_perception import families as runtime_families

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_every_zoo_model_has_its_family():
    for name in streamnet_zoo.STREAMNET_CONFIGS:
        assert families.family_of(name) == 'streamnet', name
    for name in detr_zoo.MODELS:
        assert families.family_of(name) == 'v2i', name
    with pytest.raises(ValueError, match="unknown model 'yolo'; expected one of streamnet_tiny"):
        families.family_of('yolo')
    with pytest.raises(ValueError, match='training family "yolo" unknown'):
        families.get_family('yolo')


def test_the_registry_mirrors_the_runtime_and_points_at_the_exporters():
    # every built-in runtime family can be trained and exported, and nothing else
    assert set(families.known_families()) == set(runtime_families._BUILTIN)
    for name in families.known_families():
        fam = families.get_family(name)
        assert fam.NAME == name and runtime_families.get_family(name).NAME == name
    assert families.family_for_model('streamnet_s').export is export.export_streamnet
    assert families.family_for_model('detr_tiny').export is export.export_v2i


def test_bench_models_exports_through_the_registry():
    text = (REPO / 'scripts' / 'bench_models.py').read_text()
    assert 'family_for_model(name).export(' in text
    assert not re.search(r"""==\s*['"](streamnet|v2i)['"]""", text)
