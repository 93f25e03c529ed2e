"""Input sizes: what each architecture allows through the configs, refused with the reason."""
import dataclasses

import pytest

from training.engine.config import check_config
from training.engine.exp import load_exp
from training.models.streamnet.model import pyramid_sizes
from training.data.streamnet import multiscale_size


def test_streamnet_s_recipe_multiscale_sizes_all_build():
    """s in 50..70 at 600x960 (a = 0.625): (16 int(a s), 16 s), e.g. 31 * 16 x 800 at s = 50;
    every one even, so Focus and the ceil strides take it (nearest upsampling to the size)."""
    cfg = load_exp('streamnet_s_argoverse').config
    check_config(cfg)
    sizes = {multiscale_size(step, 0, cfg.input_size, cfg.multiscale_range, 1)
             for step in range(400)}
    want = {(16 * int(0.625 * s), 16 * s) for s in range(50, 71)}
    assert sizes == want and (496, 800) in sizes and (688, 1120) in sizes
    for h, w in sizes:
        (h3, w3), _, (h5, w5) = pyramid_sizes(h, w)
        assert (h3, w3) == (-(-h // 8), -(-w // 8)) and (h5, w5) == (-(-h // 32), -(-w // 32))
    assert pyramid_sizes(600, 960) == [(75, 120), (38, 60), (19, 30)]


def test_configs_refuse_what_cannot_work_with_the_reason():
    sn = load_exp('streamnet_s_argoverse').config
    check_config(dataclasses.replace(sn, input_size=(1200, 1920)))
    with pytest.raises(ValueError, match='even'):
        check_config(dataclasses.replace(sn, input_size=(601, 960)))
    with pytest.raises(ValueError, match='multiscale_range'):
        check_config(dataclasses.replace(sn, multiscale_range=(1, 70)))
    v2i = load_exp('v2i_student_r50_sun').config
    check_config(dataclasses.replace(v2i, input_size=(418, 530)))     # any size: the mask
    with pytest.raises(ValueError, match='>= 32'):
        check_config(dataclasses.replace(v2i, input_size=(16, 512)))
