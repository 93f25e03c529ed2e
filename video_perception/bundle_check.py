"""Does a bundle's ``model.json`` say what its ONNX graphs do? Checked when the bundle loads.

A ``model.json`` edited by hand, or copied next to the graphs of another export, used to surface
as an ONNX Runtime shape error on the first frame (in ``replay`` after the whole clip). Here the
graphs' declared inputs and outputs (read with ``onnx``, without weights' external data) are set
against ``model.json`` (the graph signatures of ``video_perception/bundle.py``), and the first
disagreement is one BundleError naming the field and both values: input size, number of classes,
the history inputs (frames and feature shapes) and the number of DETR queries.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

from video_perception.bundle import Bundle, BundleError

Signature = Dict[str, Tuple]   # tensor name -> shape (ints; a symbolic dim as its name)


def graph_signature(path: str) -> Tuple[Signature, Signature]:
    """(inputs, outputs) of an ONNX graph, in graph order; BundleError for an unreadable file."""
    import onnx
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises several types for a corrupt file
        raise BundleError(f'{path}: not a readable ONNX graph ({type(exc).__name__}); expected '
                          f'the graph written by video-perception export') from None

    def shapes(values) -> Signature:
        return {v.name: tuple(d.dim_value if d.HasField('dim_value') else d.dim_param
                              for d in v.type.tensor_type.shape.dim) for v in values}

    initialisers = {i.name for i in model.graph.initializer}
    inputs = [v for v in model.graph.input if v.name not in initialisers]
    return shapes(inputs), shapes(model.graph.output)


def _mismatch(field: str, expected, graph: str, actual) -> BundleError:
    return BundleError(f'bundle model.json {field} is {expected} but {graph} has {actual}; '
                       f'expected model.json and the graphs from the same export')


def _check_image(bundle: Bundle, role: str, inputs: Signature) -> None:
    name = os.path.basename(bundle.graphs[role])
    shape = inputs.get('image')
    if shape is None:
        raise _mismatch('graphs.' + role, name, name, f'inputs {list(inputs)}, no "image"')
    if len(shape) == 4 and shape[2] != bundle.height:
        raise _mismatch('input.height', bundle.height, f'{name} "image"', f'height {shape[2]}')
    if len(shape) == 4 and shape[3] != bundle.width:
        raise _mismatch('input.width', bundle.width, f'{name} "image"', f'width {shape[3]}')


def _check_streamnet(bundle: Bundle, sigs: Dict[str, Tuple[Signature, Signature]]) -> None:
    enc_in, enc_out = sigs['encoder']
    _check_image(bundle, 'encoder', enc_in)
    enc = os.path.basename(bundle.graphs['encoder'])
    fc = os.path.basename(bundle.graphs['forecast'])
    names = [f.name for f in bundle.features]
    if list(enc_out) != names:
        raise _mismatch('history.features names', names, f'{enc} outputs', list(enc_out))
    for f in bundle.features:
        if tuple(enc_out[f.name]) != tuple(f.shape):
            raise _mismatch(f'history.features "{f.name}" shape', list(f.shape),
                            f'{enc} output "{f.name}"', list(enc_out[f.name]))
    fc_in, fc_out = sigs['forecast']
    past = [n for n in fc_in if n not in names]
    # the exporter drops inputs a graph never reads (a test fixture reads only some of the
    # history), so a partial set is no mismatch; inputs past N, or a full set of another N, are
    allowed = {f'{n}_h{k}' for k in range(1, bundle.history_frames + 1) for n in names}
    ks = [int(n.rsplit('_h', 1)[1]) for n in past if n.rsplit('_h', 1)[-1].isdigit()]
    frames = max(ks, default=0)
    full = set(past) == {f'{n}_h{k}' for k in range(1, frames + 1) for n in names}
    if not set(past) <= allowed or (full and frames != bundle.history_frames):
        raise _mismatch('history.frames', bundle.history_frames, fc,
                        f'{frames} buffered frames ({len(past)} history inputs)')
    pred = fc_out.get('predictions')
    if pred is not None and len(pred) == 3 and isinstance(pred[2], int):
        _check_classes(bundle, pred[2] - 5, f'{fc} "predictions" [1, A, 5 + C]')


def _check_classes(bundle: Bundle, graph_classes: int, where: str) -> None:
    if graph_classes != len(bundle.classes):
        raise _mismatch('classes', f'{len(bundle.classes)} names', where,
                        f'{graph_classes} classes')


def _check_v2i(bundle: Bundle, sigs: Dict[str, Tuple[Signature, Signature]]) -> None:
    inputs, outputs = sigs['student']
    _check_image(bundle, 'student', inputs)
    name = os.path.basename(bundle.graphs['student'])
    logits = outputs.get('pred_logits')
    if logits is None or len(logits) != 3:
        raise _mismatch('output', 'pred_logits [1, Q, C]', name, f'outputs {dict(outputs)}')
    if isinstance(logits[2], int):
        extra = 1 if bundle.output_kind == 'detr_softmax' else 0   # the no-object class
        _check_classes(bundle, logits[2] - extra,
                       f'{name} "pred_logits" ({bundle.output_kind}: C{" + 1" * extra} wide)')
    if bundle.num_queries is not None and isinstance(logits[1], int) \
            and logits[1] != int(bundle.num_queries):
        raise _mismatch('output.num_queries', bundle.num_queries, f'{name} "pred_logits"',
                        f'{logits[1]} queries')


def check_bundle(bundle: Bundle, sigs: Optional[Dict[str, Tuple[Signature, Signature]]] = None
                 ) -> None:
    """Raise BundleError (one line: the field, model.json's value, the graph's) on a mismatch.

    Args:
        bundle: a loaded bundle.
        sigs: role -> (inputs, outputs) of its graphs; read from ``bundle.graphs`` when None.
    """
    if sigs is None:
        try:
            import onnx  # noqa: F401 - the runtime may run without the onnx package
        except ImportError:
            return
        sigs = {role: graph_signature(path) for role, path in bundle.graphs.items()}
    if bundle.family == 'streamnet':
        _check_streamnet(bundle, sigs)
    else:
        _check_v2i(bundle, sigs)
