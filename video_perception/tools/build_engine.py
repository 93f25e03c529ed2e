"""``video-perception build-engine BUNDLE [--fp16] [--cache DIR] [--force]``.

Builds (or finds in the cache) the TensorRT engine of every graph of a bundle, so a vehicle can
build before it drives instead of at node start-up (Autoware's ``build_only``). The engines land
where the nodes look for them: ``<cache>/<role>-<precision>-<key>.engine`` with the key of
``tensorrt_backend.engine_cache_key``; pass the same ``--cache`` as the ``engine_cache_dir``
parameter (default ``<BUNDLE>/engines``).
"""
from __future__ import annotations

import argparse
import sys

from video_perception.backends.base import BackendError, BackendOptions
from video_perception.bundle import BundleError, load_bundle


def main(argv) -> int:
    parser = argparse.ArgumentParser(prog='video-perception build-engine',
                                     description=__doc__.split('\n\n')[1])
    parser.add_argument('bundle', help='model bundle folder (model.json + ONNX graphs)')
    parser.add_argument('--fp16', action='store_true', help='half-precision engine')
    parser.add_argument('--cache', default='', help='engine cache folder (default BUNDLE/engines)')
    parser.add_argument('--force', action='store_true', help='rebuild even if a cached engine '
                        'matches (force_engine_update)')
    args = parser.parse_args(argv)
    try:
        from video_perception.backends import tensorrt_backend
        bundle = load_bundle(args.bundle)
        paths = tensorrt_backend.ensure_engines(
            bundle, BackendOptions(device='cuda', fp16=args.fp16, engine_cache_dir=args.cache,
                                   force_engine_update=args.force),
            log=lambda text: print(f'build-engine: {text}', file=sys.stderr, flush=True))
    except (BundleError, BackendError, OSError) as exc:
        print(f'build-engine: {exc}', file=sys.stderr)
        return 2
    for role, path in paths.items():
        print(f'{role}\t{path}')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
