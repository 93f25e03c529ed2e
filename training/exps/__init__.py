"""Experiments: one small file per run recipe, each defining ``Exp`` (see training/engine/exp.py).

``video-perception train NAME`` imports ``training.exps.NAME``; a path to a ``.py`` file works too.
"""
