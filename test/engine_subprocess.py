"""Running training commands in a child process, as a user would: the repository on PYTHONPATH,
one thread, and no torchrun variables leaking in from the test process (a stray RANK would turn
the one-process reference run into a rank of a group that never forms)."""
import os
import pathlib
import subprocess

REPO = pathlib.Path(__file__).resolve().parents[1]
TORCHRUN_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT')


def child_env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    for k in TORCHRUN_VARS:
        env.pop(k, None)
    return env


def run_ok(args, timeout: float = 300) -> None:
    """Runs ``args`` in the repository; a non-zero exit fails the test with the stderr tail."""
    proc = subprocess.run(args, cwd=REPO, env=child_env(), capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
