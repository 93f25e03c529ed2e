"""V2I-DETR Table IV row 4, "w/ FD (attention mask)": refused in one line (what is missing), so
that a run cannot silently train another row.
"""
raise ValueError('v2i_ablation_fd_attnmask_r50_sun (Table IV row 4, w/ FD (attention mask)): not '
                 "implemented: the query-to-feature attention mask of the paper's [23] (the "
                 'students expose no attention maps between object queries and backbone features)')
