"""Trainable parameter counts against the figures counted on the official model definitions
(issue 4 / specs/streamnet.md); YOLOX-S/M/L also match the published 8.97/25.3/54.2 M."""
import json
import sys
import types

import pytest
import torch

from training.models.streamnet.blocks import count_trainable, fuse_repconv
from training.models.streamnet.zoo import MODELS

EXPECTED = {
    # name: (unfused, RepConv-fused)
    'streamnet_s': (18_623_421, 18_239_949),
    'streamnet_m': (50_070_997, 48_926_197),
    'streamnet_l': (94_071_651, 92_041_443),
    'still_teacher_l': (54_843_303, 54_843_303),
    'yolox_s': (8_968_255, 8_968_255),
    'yolox_m': (25_326_495, 25_326_495),
    'yolox_l': (54_208_895, 54_208_895),
}


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_trainable_params_exact(name):
    model = MODELS[name]().eval()
    unfused = count_trainable(model)
    fuse_repconv(model)
    assert (unfused, count_trainable(model)) == EXPECTED[name]


def test_num_classes_changes_only_the_class_convs():
    # 3 levels x (hidden 128 * dC + dC bias) for the S-width head.
    n8 = count_trainable(MODELS['yolox_s'](num_classes=8))
    n80 = count_trainable(MODELS['yolox_s']())
    assert n80 - n8 == 3 * (128 * 72 + 72)


def test_unknown_override_is_one_line_error():
    with pytest.raises(ValueError, match='unknown config fields'):
        MODELS['streamnet_s'](widht=0.5)


def test_params_cli_json_matches_published_yolox_s(capsys):
    from training.params import main
    assert main(['yolox_s', '--json']) == 0
    assert json.loads(capsys.readouterr().out) == {'trainable': 8_968_255,
                                                   'trainable_fused': 8_968_255}


def test_params_cli_text_shows_both_counts(capsys):
    from training.params import main
    assert main(['streamnet_s']) == 0
    out = capsys.readouterr().out
    assert '18,623,421' in out and '18,239,949' in out


def test_params_cli_v2i_names_via_detr_zoo(capsys, monkeypatch):
    from training.params import main
    fake = types.ModuleType('training.models.detr.zoo')
    fake.MODELS = {'v2i_teacher_r50': lambda num_classes=2: torch.nn.Linear(3, num_classes)}
    fake.msi_overhead = lambda model: 123
    monkeypatch.setitem(sys.modules, 'training.models.detr.zoo', fake)
    assert main(['v2i_teacher_r50', '--json', '--num-classes', '4']) == 0
    assert json.loads(capsys.readouterr().out) == {'trainable': 16, 'trainable_fused': 16,
                                                   'msi_overhead': 123}


def test_params_cli_unknown_name_is_one_line(capsys):
    from training.params import main
    assert main(['no_such_model']) == 2
    err = capsys.readouterr().err.strip()
    assert '\n' not in err and 'no_such_model' in err
