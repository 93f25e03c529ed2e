"""The training engine shared by every detector family (StreamNet, V2I).

One loop (`trainer.train`) for a single process on CPU or GPU and for `torchrun` (DDP). The
experiment (`exp.Exp`) supplies the model, the data, the losses, the parameter groups and the
evaluator; the engine owns optimisation, schedules, EMA, AMP, checkpoints and logs.
"""
