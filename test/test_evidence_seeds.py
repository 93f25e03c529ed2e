"""scripts/evidence_seeds.py's run list: hours of CPU hang on it, so a typo must fail here."""
import dataclasses
import importlib.util
import pathlib
import re

import pytest

from training.engine.config import apply_overrides
from training.engine.exp import load_exp

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / 'scripts' / 'evidence_seeds.py'


@pytest.fixture(scope='module')
def evidence():
    spec = importlib.util.spec_from_file_location('evidence_seeds', SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_teacher_trains_before_its_students(evidence):
    jobs = evidence.jobs()
    order = [j['name'] for j in jobs]
    assert len(set(order)) == len(order)
    for k, job in enumerate(jobs):
        for dep in job['after']:
            assert dep in order[:k], f'{job["name"]} waits for {dep}, which is not before it'
            # the student reads the checkpoint of the run it waits for, and of no other
            ckpts = [a for a in job['args'] if a.startswith('teacher_checkpoint=')]
            assert ckpts == [f'teacher_checkpoint=runs/{dep}/best.pt']


def test_every_run_resolves_to_a_checked_config(evidence):
    seeds = set()
    for job in evidence.jobs():
        exp = load_exp(job['exp'])
        cfg = apply_overrides(exp.config, list(job['args']))  # unknown keys raise
        cfg.check()
        row = re.sub(r'_s\d+$', '', job['name'])
        seeds.add((row, cfg.seed))
        if row.startswith('amb_'):
            assert cfg.train_json.endswith('lesion_ambiguous_train/dataset.json')
            assert (cfg.use_tfd, cfg.use_cqd) == {
                'amb_tfd': (True, False), 'amb_cqd': (False, True)}.get(row, (True, True))
        assert dataclasses.asdict(cfg)['seed'] in evidence.SEEDS
    rows = {name for name, _ in seeds}
    for row in rows - {'sn_still'}:
        assert {s for name, s in seeds if name == row} == set(evidence.SEEDS), row
