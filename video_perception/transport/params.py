"""Parameter type and range checks shared by both transports (ROS 2 semantics, one-line errors),
and each transport's parameter store: ``ParameterStore`` on plain DDS, ``RclpyParameters`` over
an rclpy node's own parameters. A value is checked by ``check_value`` at declaration and on
every change, whichever the transport."""
from __future__ import annotations

import difflib
import sys
import threading
from typing import Any, Callable, Dict, List, Optional

from video_perception import validate
from video_perception.transport.base import ParameterError, ParameterSpec
from video_perception.validate import short, type_name


def check_value(spec: ParameterSpec, value: Any) -> Any:
    """``value`` converted to the type of ``spec.default``, or ParameterError.

    An integer is accepted for a double parameter (``-p thr:=1`` means 1.0); everything else must
    match the default's type, as ROS 2 requires. The checks are ``video_perception.validate``'s:
    a double must be finite (rclpy refuses NaN through its range; here the same holds on DDS and
    for parameters without a range), numbers within the spec's range, strings among its choices.
    """
    field = f"parameter '{spec.name}'"
    default = spec.default
    expected, given = type_name(default), type_name(value)
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f'{field}: expected {expected}, got {given} {short(value)}')
        value = list(value)
        if default:
            elem = default[0]
            for item in value:
                if type_name(item) != type_name(elem) and not (
                        isinstance(elem, float) and type_name(item) == 'integer'):
                    raise ParameterError(f'{field}: expected array of {type_name(elem)}, got '
                                         f'element {short(item)} ({type_name(item)})')
            if isinstance(elem, (int, float)) and not isinstance(elem, bool):
                value = [validate.number(f'{field} element', v, integer=isinstance(elem, int),
                                         error=ParameterError) for v in value]
        return value
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return validate.number(field, value, integer=isinstance(default, int),
                               lo=spec.min_value, hi=spec.max_value, error=ParameterError)
    if given != expected:
        raise ParameterError(f'{field}: expected {expected}, got {given} {short(value)}')
    if spec.choices is not None and value not in spec.choices:
        # short(): the value as repr on one line ('tpu' reads as before; a newline in it would
        # split the message)
        raise ParameterError(f"{field}: {short(value)} is not one of "
                             f"{', '.join(map(str, spec.choices))}")
    return value


def settable_value(spec: Optional[ParameterSpec], name: str, value: Any) -> Any:
    """``value`` checked for a change of parameter ``name`` while the node runs (``spec``: its
    declaration, None when it was never declared): ParameterError for an undeclared or a
    read-only parameter, else ``check_value``'s value or error. Both transports' ``set``."""
    if spec is None:
        raise ParameterError(f"parameter '{name}' is not declared")
    if spec.read_only:
        raise ParameterError(f"parameter '{name}' is read-only")
    return check_value(spec, value)


def ros_descriptor(spec: ParameterSpec, dynamic_typing: bool = False):
    """The rcl_interfaces ParameterDescriptor of ``spec`` (what ``ros2 param describe`` shows):
    description, read_only, the bounds as a floating-point or integer range, choices as
    additional_constraints. Imports rcl_interfaces, so rclpy mode only."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only,
                               dynamic_typing=dynamic_typing)
    if spec.choices is not None:
        desc.additional_constraints = 'one of: ' + ', '.join(map(str, spec.choices))
    lo, hi = spec.min_value, spec.max_value
    if lo is None and hi is None:
        return desc
    if isinstance(spec.default, float):
        big = sys.float_info.max
        lo, hi = float(-big if lo is None else lo), float(big if hi is None else hi)
        desc.floating_point_range = [FloatingPointRange(from_value=lo, to_value=hi, step=0.0)]
    elif isinstance(spec.default, int) and not isinstance(spec.default, bool):
        desc.integer_range = [IntegerRange(from_value=int(-2 ** 63 if lo is None else lo),
                                           to_value=int(2 ** 63 - 1 if hi is None else hi),
                                           step=0)]
    return desc


# Set on every node by ROS itself (rclpy declares use_sim_time; launch may pass qos overrides).
_ROS_OWN_PARAMETERS = ('use_sim_time', 'start_type_description_service')


def undeclared_overrides(given: List[str], declared: List[str]) -> List[str]:
    """One warning line per ``-p``/``--params-file`` name that the node never declared.

    ROS 2 ignores such a value in silence, so a typo (``score_treshold``) would run the node on the
    default; the closest declared name is offered, as a shell offers a command.
    """
    lines = []
    for name in sorted(set(given) - set(declared)):
        if name in _ROS_OWN_PARAMETERS or name.startswith('qos_overrides.'):
            continue
        close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        lines.append(f"parameter '{name}' is not a parameter of this node and is ignored{hint}")
    return lines


class ParameterStore:
    """Declared parameters, their values and the on-set callbacks (thread-safe)."""

    def __init__(self, overrides: Dict[str, Any]):
        self._overrides = dict(overrides)
        self._specs: Dict[str, ParameterSpec] = {}
        self._values: Dict[str, Any] = {}
        self._callbacks: List[Callable[[dict], None]] = []
        self._lock = threading.Lock()

    def declare(self, spec: ParameterSpec) -> Any:
        if spec.name in self._specs:
            raise ParameterError(f"parameter '{spec.name}' is already declared")
        value = self._overrides.get(spec.name, spec.default)
        value = check_value(spec, value)
        with self._lock:
            self._specs[spec.name] = spec
            self._values[spec.name] = value
        return value

    @property
    def override_names(self) -> List[str]:
        return list(self._overrides)

    def get(self, name: str) -> Any:
        with self._lock:
            if name not in self._values:
                raise ParameterError(f"parameter '{name}' is not declared")
            return self._values[name]

    def spec(self, name: str) -> Optional[ParameterSpec]:
        return self._specs.get(name)

    def set(self, name: str, value: Any) -> None:
        value = settable_value(self._specs.get(name), name, value)
        with self._lock:
            self._values[name] = value
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback({name: value})

    def add_callback(self, callback: Callable[[dict], None]) -> None:
        with self._lock:
            self._callbacks.append(callback)

    def undeclared_overrides(self) -> List[str]:
        return sorted(set(self._overrides) - set(self._specs))


class RclpyParameters:
    """The parameters of an rclpy node, checked as ``ParameterStore`` checks them on DDS.

    Declared with their descriptors (``ros_descriptor``: ``ros2 param describe`` shows them);
    ``-p`` / ``--params-file`` values and every change (``ros2 param set``, ``set``) go through
    ``check_value``. Jazzy converts an integer for a double before the type check (pre-set
    callback) and calls back after the value is stored (post-set); Humble has neither, so there
    the parameters stay dynamically typed and the check runs in the on-set callback.
    """

    def __init__(self, node):
        self._node = node
        self._specs: Dict[str, ParameterSpec] = {}
        self._callbacks: List[Callable[[dict], None]] = []
        self._declaring = False
        self.coerces = hasattr(node, 'add_pre_set_parameters_callback')
        if self.coerces:
            node.add_pre_set_parameters_callback(self._coerce)
            node.add_post_set_parameters_callback(self._changed)
        node.add_on_set_parameters_callback(self._validate)

    def declare(self, spec: ParameterSpec) -> Any:
        self._specs[spec.name] = spec
        # -p / --params-file values: checked here so a bad one is our one-line error, not
        # rclpy's exception wrapped around the callback's reason
        override = self._node._parameter_overrides.get(spec.name)
        value = check_value(spec, spec.default if override is None else override.value)
        self._declaring = True
        try:
            desc = ros_descriptor(spec, dynamic_typing=not self.coerces)
            self._node.declare_parameter(spec.name, value, desc, ignore_override=True)
        except Exception as exc:  # noqa: BLE001 - rclpy raises its own exception types
            raise ParameterError(f"parameter '{spec.name}': {exc}") from None
        finally:
            self._declaring = False
        return value

    def get(self, name: str) -> Any:
        return self._node.get_parameter(name).value

    @property
    def override_names(self) -> List[str]:
        return list(self._node._parameter_overrides)

    def set(self, name: str, value: Any) -> None:
        from rclpy.parameter import Parameter
        value = settable_value(self._specs.get(name), name, value)
        result = self._node.set_parameters([Parameter(name, value=value)])[0]
        if not result.successful:
            raise ParameterError(f"parameter '{name}': {result.reason}")

    def add_callback(self, callback: Callable[[dict], None]) -> None:
        self._callbacks.append(callback)

    def _coerce(self, params):
        """Pre-set: 1 for a double parameter becomes 1.0 (stored and reported as a double)."""
        from rclpy.parameter import Parameter
        out = []
        for p in params:
            spec = self._specs.get(p.name)
            if spec is not None:
                try:
                    value = check_value(spec, p.value)
                except ParameterError:
                    value = p.value           # left for the type/range checks to reject
                if type(value) is not type(p.value):
                    p = Parameter(p.name, value=value)
            out.append(p)
        return out

    def _validate(self, params):
        from rcl_interfaces.msg import SetParametersResult
        changed = {}
        for p in params:
            spec = self._specs.get(p.name)
            if spec is None:
                continue
            try:
                changed[p.name] = check_value(spec, p.value)
            except ParameterError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        if not self.coerces:
            self._notify(changed)
        return SetParametersResult(successful=True)

    def _changed(self, params) -> None:
        """Post-set: the values are stored; the node applies them before its next frame."""
        self._notify({p.name: p.value for p in params if p.name in self._specs})

    def _notify(self, changed: dict) -> None:
        if changed and not self._declaring:
            for callback in self._callbacks:
                callback(changed)


class StoredParameters:
    """The ``Transport`` parameter methods of a transport that keeps its parameters in a store
    (``self._params``: ``ParameterStore`` on DDS, ``RclpyParameters`` on rclpy). Listed before
    ``Transport`` among a transport's bases, these stand for its abstract methods."""

    _params: Any

    def declare_parameter(self, spec: ParameterSpec) -> Any:
        return self._params.declare(spec)

    def get_parameter(self, name: str) -> Any:
        return self._params.get(name)

    def parameter_overrides(self) -> List[str]:
        return self._params.override_names

    def set_parameter(self, name: str, value: Any) -> None:
        self._params.set(name, value)

    def add_on_set_parameters_callback(self, callback: Callable[[dict], None]) -> None:
        self._params.add_callback(callback)
