"""Stage 2 at the real size: Deformable DETR R50 distilled from the frozen R50 teacher,
L_det + 1 L_TFD + 5 L_CQD (N = 100 queries, so n = 100 // 3 = 33 teacher queries per step)::

    torchrun --nproc_per_node=8 -m training.train v2i_distill_r50_sun
    # students per Table I: model=detr_r50 / model=sam_detr_r50 (exp_name=... per run)
    # ablation: use_tfd=false or use_cqd=false
"""
import dataclasses

from training.exps.v2i_base import V2IExp
from training.exps.v2i_student_r50_sun import Exp as Student


class Exp(V2IExp):
    config = dataclasses.replace(Student.config, teacher_model='v2i_teacher_r50',
                                 teacher_checkpoint='runs/v2i_teacher_r50_sun/last.pt')
