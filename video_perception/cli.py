"""The ``video-perception`` tool: one command, a subcommand per job.

Subcommands are looked up by module path and imported only when run, so ``video-perception echo``
on a robot never imports torch, and the runtime core never imports ``training`` (only this
dispatcher names it). Each subcommand module exposes ``main(argv: list[str]) -> int``.

Stops are one mechanism for every subcommand: SIGTERM (what a launch file, systemd and CI
timeouts send) raises ``Terminated``, a KeyboardInterrupt, in the main thread, so every cleanup
path that honours Ctrl-C (temporary folders removed, partial outputs deleted, transports closed)
honours it too; the dispatcher then prints one line and exits 143 (SIGTERM) or 130 (SIGINT)
(``cli_common.run_stoppable``, which ``scripts/bench.py`` uses too).
"""
import importlib
import os
import sys

# one Terminated class for the dispatcher and the tools (this module may run as __main__)
from video_perception.tools.cli_common import run_stoppable

# name -> (module, one-line help)
SUBCOMMANDS = {
    'publish': ('video_perception.tools.publish',
                'play an image folder, video, rosbag2 or a simulated camera onto a topic'),
    'echo': ('video_perception.tools.echo', 'print messages received on a topic'),
    'replay': ('video_perception.tools.replay',
               'replay a bag/folder/video/dataset through a model bundle as on the vehicle'),
    'evaluate': ('video_perception.tools.evaluate',
                 'score results: COCO AP, streaming AP, K-step sAP, lesion F1'),
    'build-engine': ('video_perception.tools.build_engine',
                     'build (and cache) the TensorRT engine of a bundle before driving'),
    'convert': ('training.data.convert', 'convert a dataset into the canonical video JSON'),
    'synth': ('training.data.synth', 'write a deterministic synthetic video benchmark'),
    'train': ('training.train', 'train or distil a model from an experiment file'),
    'export': ('training.export', 'export a model bundle (ONNX + model.json)'),
    'import': ('training.import_weights',
               'turn a released YOLOX / DAMO-StreamNet / DETR-family checkpoint into a bundle'),
    'check-bundle': ('training.check_bundle',
                     'compare a bundle on a backend with its torch reference on real frames'),
    'params': ('training.params', 'print trainable parameter counts of a named model'),
}


def _usage() -> str:
    width = max(len(n) for n in SUBCOMMANDS)
    lines = ['usage: video-perception SUBCOMMAND [args...]', '', 'subcommands:']
    lines += [f'  {name:<{width}}  {helptext}' for name, (_, helptext) in SUBCOMMANDS.items()]
    lines += ['', "Run 'video-perception SUBCOMMAND --help' for a subcommand's options."]
    return '\n'.join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help', 'help'):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"video-perception: unknown subcommand '{name}'; expected one of "
              f"{', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    return run_stoppable(f'video-perception {name}', lambda: _run(name, rest))


def _run(name: str, rest: list) -> int:
    try:
        module = importlib.import_module(SUBCOMMANDS[name][0])
        return int(module.main(rest) or 0)
    except BrokenPipeError:  # `video-perception echo ... | head`: the reader has gone
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - the last net: one line, not a traceback wall
        if os.environ.get('VIDEO_PERCEPTION_DEBUG'):
            raise
        first = (str(exc).strip().splitlines() or [''])[0]
        print(f'video-perception {name}: unexpected {type(exc).__name__}: {first} (a bug or an '
              f'input nothing checks; VIDEO_PERCEPTION_DEBUG=1 shows the traceback)',
              file=sys.stderr)
        return 70


if __name__ == '__main__':
    sys.exit(main())
