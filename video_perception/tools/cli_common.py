"""What the command-line tools share: clean stops, one-line argparse errors, the ROS tool main.

``run_stoppable`` runs a command with SIGTERM turned into ``Terminated`` (a KeyboardInterrupt), so
a stop is one line and exit status 143 / 130 (the dispatcher and ``scripts/bench.py`` use it).

``OneLineArgumentParser`` is argparse with the project's rule for bad input: one line on stderr
naming the problem and exit status 2, no usage block. ``ros_tool_main`` is the ``main()`` of the
tools that talk to the ROS graph (``publish``, ``echo``): it splits off ``--ros-args`` (so remaps
and ``__ns`` work as for the nodes), parses the rest, makes the transport only when the tool asks
for it, turns expected errors into one line and always closes the transport.
"""
from __future__ import annotations

import argparse
import signal
import sys
from typing import Callable, List, Optional

NODE_NAME_PREFIX = 'video_perception_'


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be (``run_stoppable`` installs ``on_sigterm``), so
    every cleanup path that honours Ctrl-C honours it; the dispatcher exits 143."""


_STOP = {'requested': False}  # a SIGTERM arrived (it stays set even if its exception was lost)


def on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second one must not cut the cleanup
    _STOP['requested'] = True
    raise Terminated()


def raise_if_stopped() -> None:
    """Raises ``Terminated`` again when a SIGTERM arrived but its exception never reached the
    dispatcher. Python raises it at whatever line runs when the signal lands, and a library's
    bare ``except:`` there swallows it (mpmath's ``try: import gmpy2 ... except: pass``, run when
    torch first imports sympy); the work then went on with SIGTERM ignored. Long loops (a
    training step, a replayed frame, a written frame or plot) call this so such a run still
    stops at its next step, and so does every command before it renames its output into place
    (``outdir.output_dir``)."""
    if _STOP['requested']:
        raise Terminated()


def _close_progress_bars() -> None:
    """Close the tqdm bars a stop left open, so that the stop's line starts on a line of its
    own: a bar draws without a newline, and the line printed after it would share its line
    (``render: 0%|...| 0/800video-perception evaluate: stopped ...``)."""
    std = sys.modules.get('tqdm.std')       # only when something imported tqdm
    for bar in list(getattr(getattr(std, 'tqdm', None), '_instances', ())):
        try:
            bar.close()
        except Exception:  # noqa: BLE001 - a bar that cannot close must not hide the stop
            pass


def run_stoppable(prog: str, body: Callable[[], int]) -> int:
    """``body()``'s exit status, with SIGTERM turned into ``Terminated`` while it runs.

    A stop (SIGTERM or Ctrl-C) that reaches here, after ``body``'s cleanup removed what it had
    half-written, is one line on stderr (``PROG: stopped by SIGTERM; no partial output left``)
    and exit status 143 (SIGTERM) or 130 (SIGINT). An embedding program's own SIGTERM handler is
    left in place.
    """
    own = signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)
    _STOP['requested'] = False
    try:  # installed inside the try: a SIGTERM right after it is caught here too
        if own:
            signal.signal(signal.SIGTERM, on_sigterm)
        status = body()
        raise_if_stopped()  # a swallowed stop that no loop met again: still a stop, not 0
        return status
    except KeyboardInterrupt as exc:
        term = isinstance(exc, Terminated)
        _close_progress_bars()
        print(f"{prog}: stopped by {'SIGTERM' if term else 'Ctrl-C (SIGINT)'}; "
              'no partial output left', file=sys.stderr)
        return 143 if term else 130
    finally:
        if own:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _STOP['requested'] = False


class OneLineArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line on stderr and exit status 2."""

    def error(self, message):
        print(f'{self.prog}: error: {message}', file=sys.stderr)
        sys.exit(2)


def ros_tool_main(tool: str, argv: Optional[List[str]],
                  build_parser: Callable[[], argparse.ArgumentParser],
                  body: Callable[[argparse.Namespace, Callable[[], object]], int]) -> int:
    """Runs ``body(args, connect)`` as the ``main`` of a ROS tool; returns the exit status.

    Args:
        tool: the subcommand ('echo'); it prefixes error lines and names the node
            (``video_perception_<tool>``).
        argv: the command line without the program name (None: ``sys.argv[1:]``).
        build_parser: makes the parser for what is not ``--ros-args``.
        body: does the work; ``connect()`` makes the transport (once) with the whole command
            line, so ``--ros-args`` reach it.

    Returns:
        ``body``'s status; 2 for malformed ``--ros-args``, 1 for a ValueError, BagError or
        OSError (one line on stderr). Ctrl-C and SIGTERM propagate (after the transport is
        closed) to the dispatcher, which prints the one line and exits 130 / 143.
    """
    from video_perception.bagio import BagError
    from video_perception.transport import make_transport
    from video_perception.transport.ros_args import parse, RosArgsError
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        ros = parse(argv)
    except RosArgsError as exc:
        print(f'{tool}: {exc}', file=sys.stderr)
        return 2
    args = build_parser().parse_args(ros.rest)
    made = []

    def connect():
        if not made:
            made.append(make_transport(NODE_NAME_PREFIX + tool, argv))
        return made[0]

    try:
        return body(args, connect)
    except (ValueError, BagError, OSError) as exc:
        print(f'{tool}: {exc}', file=sys.stderr)
        return 1
    finally:
        for transport in made:
            getattr(transport, 'close', transport.shutdown)()
