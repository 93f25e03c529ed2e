"""V2I-DETR Table IV row 8, "w/ QD": refused in one line (what is missing), so that a run cannot
silently train another row.
"""
raise ValueError('v2i_ablation_qd_r50_sun (Table IV row 8, w/ QD): not implemented: decoder query '
                 "distillation between the student's own and the teacher's queries (the paper does"
                 ' not say which queries pair up; CQD is its defined form)')
