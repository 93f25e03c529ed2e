"""``video-perception params NAME [--num-classes C] [--json]``: trainable parameter counts.

Prints the trainable parameters as built (training form) and with every RepConv fused into a
single 3x3 conv (deployment form). StreamNet-family names come from
``training.models.streamnet.zoo.MODELS``; the V2I names from ``training.models.detr.zoo.MODELS``
(imported only when such a name is asked for). ``--json`` prints
``{"trainable": int, "trainable_fused": int}`` (plus ``"msi_overhead"`` where the V2I zoo
reports one).
"""
import argparse
import importlib
import json
import sys
from typing import Optional

DETR_ZOO = 'training.models.detr.zoo'
MSI_MODEL = 'v2i_teacher_r50'


class ParamsError(ValueError):
    """Bad model name or arguments; the message is the one line printed to stderr."""


def _detr_models():
    try:
        return importlib.import_module(DETR_ZOO)
    except ModuleNotFoundError as exc:
        if exc.name and DETR_ZOO.startswith(exc.name):
            return None
        raise


def count_params(name: str, num_classes: Optional[int] = None) -> dict:
    """Build ``name`` on CPU (no forward pass) and count its trainable parameters."""
    # Imported here so that `--help` answers without loading torch.
    from training.models.streamnet.blocks import count_trainable, fuse_repconv
    from training.models.streamnet.zoo import MODELS as STREAMNET_MODELS

    detr = None
    if name in STREAMNET_MODELS:
        builder = STREAMNET_MODELS[name]
    else:
        detr = _detr_models()
        if detr is None:
            raise ParamsError(
                f"model '{name}' is not a StreamNet-family model ({', '.join(STREAMNET_MODELS)})"
                f' and the V2I model zoo ({DETR_ZOO}) does not exist yet')
        if name not in detr.MODELS:
            known = list(STREAMNET_MODELS) + list(detr.MODELS)
            raise ParamsError(f"model '{name}' unknown; expected one of {', '.join(known)}")
        builder = detr.MODELS[name]
    if num_classes is not None and num_classes < 1:
        raise ParamsError(f'--num-classes must be >= 1, got {num_classes}')
    kwargs = {} if num_classes is None else {'num_classes': num_classes}
    model = builder(**kwargs).eval()
    result = {'trainable': count_trainable(model)}
    overhead = None
    if detr is not None and name == MSI_MODEL and hasattr(detr, 'msi_overhead'):
        overhead = detr.msi_overhead(model)
    fuse_repconv(model)
    result['trainable_fused'] = count_trainable(model)
    if overhead is not None:
        result['msi_overhead'] = overhead
    return result


def _fmt(value) -> str:
    return f'{value:,}' if isinstance(value, int) else str(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog='video-perception params',
        description='Print the trainable parameter count of a named model, unfused and with '
                    'RepConv fused.')
    parser.add_argument('name', help='model name, e.g. streamnet_s, still_teacher_l, yolox_l')
    parser.add_argument('--num-classes', type=int, default=None,
                        help='number of classes (default: the model\'s own, 8 for '
                             'streamnet_*/still_teacher_l, 80 for yolox_*)')
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        result = count_params(args.name, args.num_classes)
    except ValueError as exc:
        print(f'video-perception params: {exc}', file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
        return 0
    print(f'{args.name}: trainable parameters {_fmt(result["trainable"])} '
          f'(RepConv fused: {_fmt(result["trainable_fused"])})')
    if 'msi_overhead' in result:
        print(f'{args.name}: MSI overhead {_fmt(result["msi_overhead"])}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
