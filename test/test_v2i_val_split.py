"""V2I model selection never reads a test split: SUN validates on training videos held out."""
import dataclasses

import pytest

from training.engine.config import check_config
from training.engine.exp import load_exp
from training.exps.v2i_base import V2IExp, V2IExpConfig
from v2i_train_fixtures import write_tiny_video


def test_held_out_videos_are_disjoint_from_training_and_from_the_test_file(tmp_path):
    data = write_tiny_video(tmp_path / 'd', videos=7, frames=3, height=48, width=64)
    cfg = V2IExpConfig(train_json=str(data), val_json='', test_json='elsewhere.json',
                       val_holdout_videos=3, input_size=(64, 64))
    check_config(cfg)
    exp = V2IExp(cfg)
    train, val = exp.build_datasets()
    names = {v: meta['name'] for v, meta in train.ds.videos.items()}
    order = [names[v] for v in sorted(names)]
    got_train = {names[v] for v in train.video_ids}
    got_val = {names[v] for v in val.video_ids}
    assert order == [f'vid{i}' for i in range(7)]
    assert got_val == {'vid1', 'vid3', 'vid5'}        # positions int((i + 0.5) 7 / 3): spread
    assert got_train == {f'vid{i}' for i in range(7)} - got_val
    assert val.ds.name == train.ds.name and len(val) == 9 and val.flip_prob == 0.0
    with pytest.raises(ValueError, match='only 7 videos'):
        V2IExp(dataclasses.replace(cfg, val_holdout_videos=7)).build_datasets()


def test_sun_recipes_validate_on_training_clips():
    for name in ('v2i_teacher_r50_sun', 'v2i_student_r50_sun', 'v2i_distill_r50_sun'):
        cfg = load_exp(name).config
        assert cfg.val_holdout_videos > 0 and cfg.val_json == ''
        assert 'test' not in cfg.train_json
    bad = dataclasses.replace(load_exp('v2i_teacher_r50_sun').config,
                              val_json='runs/data/sun_test_easy/dataset.json')
    with pytest.raises(ValueError, match='val_holdout_videos'):
        check_config(bad)
