"""V2I-DETR Table IV row 7, "w/ ED (attention mask)": refused in one line (what is missing), so
that a run cannot silently train another row.
"""
raise ValueError('v2i_ablation_ed_attnmask_r50_sun (Table IV row 7, w/ ED (attention mask)): not '
                 'implemented: encoder embedding distillation and the attention mask of the '
                 "paper's [23] (neither is exposed by the models)")
