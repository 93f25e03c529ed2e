"""Stage 2 on the ambiguous-lesion benchmark: the tiny student distilled from the frozen tiny
teacher, L = L_det + 1 L_TFD + 5 L_CQD; the ablations set ``use_tfd`` / ``use_cqd``::

    video-perception train v2i_teacher_tiny_ambiguous seed=0              # stage 1
    video-perception train v2i_distill_tiny_ambiguous seed=0 \\
        teacher_checkpoint=runs/v2i_teacher_tiny_ambiguous/best.pt        # TFD + CQD
    video-perception train v2i_distill_tiny_ambiguous use_cqd=False       # TFD only
    video-perception train v2i_distill_tiny_ambiguous use_tfd=False       # CQD only
"""
import dataclasses

from training.exps.v2i_base import V2IExp
from training.exps.v2i_student_tiny_ambiguous import Exp as Student


class Exp(V2IExp):
    config = dataclasses.replace(
        Student.config, teacher_model='v2i_teacher_tiny',
        teacher_checkpoint='runs/v2i_teacher_tiny_ambiguous/best.pt', use_tfd=True,
        use_cqd=True)
