"""`video-perception train` command line: config printing and one-line errors."""
from training import train


def test_print_config_applies_overrides(capsys):
    assert train.main(['toy_mlp', 'max_epoch=2', 'optimizer=adamw', '--print-config']) == 0
    out = capsys.readouterr().out
    assert 'ToyConfig' in out and 'adamw' in out
    assert any(line.split() == ['max_epoch', '2'] for line in out.splitlines())


def test_errors_are_one_line(capsys, tmp_path):
    cases = [(['no_such_exp'], 'not found in training/exps'),
             (['toy_mlp', 'max_epoch=x'], 'expected int'),
             (['toy_mlp', 'warmup_epochs=9', 'max_epoch=2'], 'warmup_epochs'),
             ([str(tmp_path / 'missing.py')], 'not found'),
             (['toy_mlp', f'resume={tmp_path / "none.pt"}', f'output_dir={tmp_path}',
               'progress=false'], 'no such file')]
    for argv, msg in cases:
        assert train.main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], (argv, err)
