"""``python test/sigterm_at_import.py MODULE video-perception-args...``: runs the CLI and sends
it a real SIGTERM at the moment ``import MODULE`` is first looked up, after the dispatcher
installed its handler. The moment is fixed, not a race: a finder at the head of ``sys.meta_path``
sends the signal, and Python runs the handler inside that import (so inside any ``try`` around
it). test_sigterm uses it for ``gmpy2``, which mpmath tries under a bare ``except:`` when torch
first imports sympy (the training hang of issue 22). One stderr line says the signal was sent.
"""
import os
import signal
import sys

from video_perception import cli


class SigtermAt:
    def __init__(self, module: str):
        self.module, self.sent = module, False

    def find_spec(self, name, path=None, target=None):
        if name == self.module and not self.sent:
            self.sent = True
            print(f'sigterm_at_import: signal sent while importing {name}', file=sys.stderr,
                  flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
        return None  # the normal finders go on looking


if __name__ == '__main__':
    sys.meta_path.insert(0, SigtermAt(sys.argv[1]))
    sys.exit(cli.main(sys.argv[2:]))
