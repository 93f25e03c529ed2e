"""Checkpoint files: atomic replacement, safe loading, per-rank RNG round trip."""
import os
import random

import numpy as np
import pytest
import torch

from training.engine import checkpoint as ck


def test_failed_write_leaves_last_good_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / 'last.pt'
    good = {'step': 5, 'model': {'w': torch.arange(4.0)}}
    ck.save_checkpoint(str(path), good)
    real_save = torch.save

    def crashing_save(obj, f, *a, **k):
        real_save(obj, f, *a, **k)     # write the whole thing, then lose the rest of the job
        f.write(b'partial')
        raise OSError('disk full (simulated)')

    monkeypatch.setattr(ck.torch, 'save', crashing_save)
    with pytest.raises(OSError, match='simulated'):
        ck.save_checkpoint(str(path), {'step': 6, 'model': {'w': torch.zeros(4)}})
    monkeypatch.undo()
    state = ck.load_checkpoint(str(path))
    assert state['step'] == 5 and torch.equal(state['model']['w'], good['model']['w'])
    assert sorted(os.listdir(tmp_path)) == ['last.pt']   # no temporary file left behind


def test_truncated_file_is_reported_in_one_line(tmp_path):
    path = tmp_path / 'bad.pt'
    ck.save_checkpoint(str(path), {'step': 1})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match='bad.pt.*cannot be read'):
        ck.load_checkpoint(str(path))
    with pytest.raises(ValueError, match='no such file'):
        ck.load_checkpoint(str(tmp_path / 'missing.pt'))


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()            # leave a cached gaussian in numpy's state
    ck.save_checkpoint(str(tmp_path / 'r.pt'), {'rng': [ck.get_rng_state()]})
    expected = (random.random(), np.random.standard_normal(3), torch.rand(3))
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    ck.set_rng_state(ck.load_checkpoint(str(tmp_path / 'r.pt'))['rng'][0])
    got = (random.random(), np.random.standard_normal(3), torch.rand(3))
    assert got[0] == expected[0]
    np.testing.assert_array_equal(got[1], expected[1])
    assert torch.equal(got[2], expected[2])
