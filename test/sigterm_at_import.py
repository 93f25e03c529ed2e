"""``python test/sigterm_at_import.py [--swallow] [--audit] WHERE video-perception-args...``:
runs the CLI and sends it a real SIGTERM at a fixed moment after the dispatcher installed its
handler, not at a race's. WHERE is a module: the signal goes when ``import WHERE`` is first
looked up (a finder at the head of ``sys.meta_path`` sends it, and Python runs the handler
inside that import, so inside any ``try`` around it). test_sigterm uses it for ``gmpy2``, which
mpmath tries under a bare ``except:`` when torch first imports sympy (the training hang of issue
22). With ``--audit``, WHERE is ``EVENT:TEXT``: the signal goes at the first audit event EVENT
(``os.rename``, ``open``, ...; ``sys.addaudithook``) whose arguments hold TEXT, and the handler
raises out of that call before it acts. One stderr line says the signal was sent.

With ``--swallow`` the handler runs inside a bare ``except:`` here, as in mpmath around ``import
gmpy2``: the stop is recorded and its exception lost, at a moment where the command is mid-work
(its partial output made) but under no library's ``except``.
"""
import os
import signal
import sys
import time

from video_perception import cli


class SigtermAt:
    def __init__(self, where: str, swallow: bool = False):
        self.where, self.swallow, self.sent = where, swallow, False

    def fire(self, what: str) -> None:
        self.sent = True
        print(f'sigterm_at_import: signal sent while {what}', file=sys.stderr, flush=True)
        if not self.swallow:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises in here, so in the import or the audited call
            return
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        except:  # noqa: E722 - what mpmath's backend does around `import gmpy2`
            pass

    def find_spec(self, name, path=None, target=None):
        if name == self.where and not self.sent:
            self.fire(f'importing {name}')
        return None  # the normal finders go on looking

    def audit(self, event, args):
        name, _, text = self.where.partition(':')
        if event == name and not self.sent and text in ' '.join(map(str, args)):
            self.fire(f'auditing {event} {text}')


if __name__ == '__main__':
    flags = [a for a in sys.argv[1:3] if a in ('--swallow', '--audit')]
    where, argv = sys.argv[1 + len(flags)], sys.argv[2 + len(flags):]
    at = SigtermAt(where, '--swallow' in flags)
    if '--audit' in flags:
        sys.addaudithook(at.audit)
    else:
        sys.meta_path.insert(0, at)
    sys.exit(cli.main(argv))
