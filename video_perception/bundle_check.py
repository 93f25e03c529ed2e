"""Does a bundle's ``model.json`` say what its ONNX graphs do? Checked when the bundle loads.

A ``model.json`` edited by hand, or copied next to the graphs of another export, used to surface
as an ONNX Runtime shape error on the first frame (in ``replay`` after the whole clip). Here the
graphs' declared inputs and outputs (read with ``onnx``, without weights' external data) are set
against ``model.json`` (the graph signatures of ``video_perception/bundle.py``), and the first
disagreement is one BundleError naming the field and both values: input size, number of classes,
what each family adds (``check_graphs`` of its module: the history inputs of StreamNet, the
number of DETR queries of V2I).
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


def mismatch(field: str, expected, graph: str, actual) -> BundleError:
    return BundleError(f'bundle model.json {field} is {expected} but {graph} has {actual}; '
                       f'expected model.json and the graphs from the same export')


def check_image(bundle: Bundle, role: str, inputs: Signature) -> None:
    name = os.path.basename(bundle.graphs[role])
    shape = inputs.get('image')
    if shape is None:
        raise mismatch('graphs.' + role, name, name, f'inputs {list(inputs)}, no "image"')
    if len(shape) == 4 and shape[2] != bundle.height:
        raise mismatch('input.height', bundle.height, f'{name} "image"', f'height {shape[2]}')
    if len(shape) == 4 and shape[3] != bundle.width:
        raise mismatch('input.width', bundle.width, f'{name} "image"', f'width {shape[3]}')


def check_classes(bundle: Bundle, graph_classes: int, where: str) -> None:
    if graph_classes != len(bundle.classes):
        raise mismatch('classes', f'{len(bundle.classes)} names', where,
                       f'{graph_classes} classes')


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
    from video_perception.families import bundle_family
    family = bundle_family(bundle)
    if hasattr(family, 'check_graphs'):      # optional: what this family's graphs must declare
        family.check_graphs(bundle, sigs)
