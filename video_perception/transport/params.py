"""Parameter type and range checks shared by both transports (ROS 2 semantics, one-line errors)."""
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
        raise ParameterError(f"{field}: '{value}' is not one of "
                             f"{', '.join(map(str, spec.choices))}")
    return value


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
        spec = self._specs.get(name)
        if spec is None:
            raise ParameterError(f"parameter '{name}' is not declared")
        if spec.read_only:
            raise ParameterError(f"parameter '{name}' is read-only")
        value = check_value(spec, value)
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
