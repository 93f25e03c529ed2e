"""Stage 1 on the ambiguous-lesion benchmark (docs/EVIDENCE.md): the tiny V2I teacher
(Deformable DETR + MSI over causal clips {t-2, t-1, t}), the model that sees what one frame
cannot (faded lesions, one-frame look-alikes; training/data/synth_lesion_ambiguous.py)::

    video-perception synth lesion_ambiguous runs/v2i_data/lesion_ambiguous_train --seed 1 \\
        --videos 24 --frames 30
    video-perception synth lesion_ambiguous runs/v2i_data/lesion_ambiguous_val --seed 2 \\
        --videos 4 --frames 30
    video-perception synth lesion_ambiguous runs/v2i_data/lesion_ambiguous_test --seed 3 \\
        --videos 8 --frames 30
    video-perception train v2i_teacher_tiny_ambiguous seed=0

``make evidence-ambiguous`` runs all of it over three seeds (scripts/evidence_ambiguous.py).
"""
from training.exps.v2i_base import V2IExp, V2IExpConfig
from training.exps.v2i_teacher_tiny_synth import TINY_SYNTH

AMBIGUOUS = dict(
    TINY_SYNTH,
    train_json='runs/v2i_data/lesion_ambiguous_train/dataset.json',
    val_json='runs/v2i_data/lesion_ambiguous_val/dataset.json',
    test_json='runs/v2i_data/lesion_ambiguous_test/dataset.json',
    max_epoch=20, lr_drop_epochs=(16,), eval_every=4)


class Exp(V2IExp):
    config = V2IExpConfig(model='v2i_teacher_tiny', **AMBIGUOUS)
