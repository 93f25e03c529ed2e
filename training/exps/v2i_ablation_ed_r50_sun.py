"""V2I-DETR Table IV row 6, "w/ ED": refused in one line (what is missing), so that a run cannot
silently train another row.
"""
raise ValueError('v2i_ablation_ed_r50_sun (Table IV row 6, w/ ED): not implemented: encoder '
                 'embedding distillation (the students and the teacher expose no encoder memory to'
                 ' distil)')
