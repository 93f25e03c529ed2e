"""Stage 2 on the synthetic lesion benchmark: the tiny Deformable DETR student distilled from the
frozen tiny teacher, L = L_det + 1 L_TFD + 5 L_CQD::

    video-perception train v2i_teacher_tiny_synth            # stage 1
    video-perception train v2i_distill_tiny_synth            # stage 2
    # other students: model=detr_tiny or model=sam_detr_tiny (exp_name=... to keep both runs)
"""
import dataclasses

from training.exps.v2i_base import V2IExp
from training.exps.v2i_student_tiny_synth import Exp as Student


class Exp(V2IExp):
    config = dataclasses.replace(
        Student.config, teacher_model='v2i_teacher_tiny',
        teacher_checkpoint='runs/v2i_teacher_tiny_synth/last.pt', use_tfd=True, use_cqd=True)
