"""One validation layer for every value a user gives: numbers, choices, lists and ROS names.

Node parameters (``-p``, ``--params-file``, a change at run time, on both transports), the
commands' flags, ``train``'s config overrides, ``model.json`` fields and the camera lists all
check their values here, so one rule holds everywhere: a number that must be finite is refused
when it is NaN or infinite (NaN passes every ``<``/``>`` range test, which is how
``score_threshold:=.nan`` once configured a node that published nothing), a bool is never taken
for a number, and a refusal is **one line** naming the field, the value and what was expected.

Each check takes the exception class of its caller (``error=``: ParameterError, BundleError,
``argparse.ArgumentTypeError``...), so the callers' own ``except`` clauses and exit codes stay as
they are. Pure: no I/O, no ROS import.

ROS names follow rcl and rmw (``rcl_validate_topic_name``, ``rmw_validate_full_topic_name``,
``rmw_validate_node_name``, ``rmw_validate_namespace``): ASCII letters, digits and ``_``; ``/``
between tokens, never twice in a row and never last; no token starting with a digit; a topic
name may be relative, start with ``~/`` and hold ``{substitutions}``; at most 247 characters
for a fully qualified topic, 245 for a namespace, 255 for a node name.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterable, List, Optional, Sequence, Type

TOPIC_MAX_LENGTH = 255 - 8           # RMW_TOPIC_MAX_NAME_LENGTH
NAMESPACE_MAX_LENGTH = TOPIC_MAX_LENGTH - 2   # RMW_NAMESPACE_MAX_LENGTH (245)
NODE_NAME_MAX_LENGTH = 255           # RMW_NODE_NAME_MAX_NAME_LENGTH


class InputError(ValueError):
    """A value a user gave that is of the wrong type, out of range or malformed (one line)."""


ErrorType = Type[Exception]


def type_name(value: Any) -> str:
    """The ROS parameter type of a Python value ('integer', 'double', ...) for messages."""
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, int):
        return 'integer'
    if isinstance(value, float):
        return 'double'
    if isinstance(value, str):
        return 'string'
    if isinstance(value, (list, tuple)):
        return 'array'
    if value is None:
        return 'null'
    return type(value).__name__


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters (a message never wraps)."""
    text = ' '.join(repr(value).splitlines())
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _range_text(lo, hi, lo_open: bool = False) -> str:
    if lo_open:
        return f'> {lo}' + (f' and <= {hi}' if hi is not None else '')
    if lo is not None and hi is not None:
        return f'in [{lo}, {hi}]'
    if lo is not None:
        return f'>= {lo}'
    if hi is not None:
        return f'<= {hi}'
    return ''


def number(field: str, value: Any, *, integer: bool = False, lo: Optional[float] = None,
           hi: Optional[float] = None, lo_open: bool = False, error: ErrorType = InputError,
           accept_int_for_float: bool = True, want: Optional[str] = None) -> Any:
    """``value`` as a finite int (``integer``) or float within [lo, hi]; else ``error``.

    A bool is refused (it is an int in Python, not in ROS or JSON); an int is taken for a float
    (``-p thr:=1`` means 1.0) unless ``accept_int_for_float`` is False. ``lo_open`` makes the
    lower bound exclusive (a frame rate > 0). ``want`` names the type in messages (default the
    ROS names, 'integer' or 'double'); an empty ``field`` leaves the prefix out (argparse
    writes ``argument --fps:`` itself).
    """
    want = want or ('integer' if integer else 'double')
    expected = f'expected {"an" if want[0] in "aeiou" else "a"} {want}'
    rng = _range_text(lo, hi, lo_open)
    expected += f' {rng}' if rng else ''
    at = f'{field}: ' if field else ''
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            integer and isinstance(value, float)) or (
            not integer and isinstance(value, int) and not accept_int_for_float):
        raise error(f'{at}expected {want}, got {type_name(value)} {short(value)}')
    if integer and not -2 ** 63 <= value < 2 ** 63:
        raise error(f'{at}{value} does not fit a 64-bit integer; {expected}')
    if not integer:
        value = float(value)
        if not math.isfinite(value):
            raise error(f'{at}{value} is not a finite number; {expected}')
    if lo is not None and lo_open and value <= lo:
        raise error(f'{at}{value} is out of range; {expected}')
    if lo is not None and not lo_open and value < lo:
        raise error(f'{at}{value} is below the minimum {lo}; {expected}')
    if hi is not None and value > hi:
        raise error(f'{at}{value} is above the maximum {hi}; {expected}')
    return value


def choice(field: str, value: Any, choices: Sequence, error: ErrorType = InputError) -> Any:
    """``value`` if it is one of ``choices`` (compared with ==, types checked too)."""
    if not any(value == c and type(value) is type(c) for c in choices):
        raise error(f"{field}: {short(value)} is not one of {', '.join(map(str, choices))}")
    return value


def string(field: str, value: Any, *, nonempty: bool = True,
           error: ErrorType = InputError) -> str:
    if not isinstance(value, str):
        raise error(f'{field}: expected string, got {type_name(value)} {short(value)}')
    if nonempty and not value.strip():
        raise error(f'{field}: {short(value)} is empty; expected a non-empty string')
    return value


def distinct(field: str, items: Iterable, error: ErrorType = InputError,
             key: Callable[[Any], Any] = lambda x: x) -> List:
    """``items`` as a list when no two have the same ``key``; else one line naming the first
    repeat and both positions."""
    items = list(items)
    seen = {}
    for i, item in enumerate(items):
        k = key(item)
        if k in seen:
            alias = f' (as {short(k)})' if k != item else ''
            raise error(f'{field}: {short(item)} appears twice{alias} (positions {seen[k]} and '
                        f'{i}); expected distinct values')
        seen[k] = i
    return items


# -- ROS names ----------------------------------------------------------------------------------
def _alnum(ch: str) -> bool:
    return ('a' <= ch <= 'z') or ('A' <= ch <= 'Z') or ('0' <= ch <= '9')


def _digit(ch: str) -> bool:
    return '0' <= ch <= '9'


def _token_starts_with_digit(name: str) -> Optional[int]:
    for i in range(len(name) - 1):
        if name[i] == '/' and _digit(name[i + 1]):
            return i + 1
    return None


def topic_name_problem(name: str) -> Optional[str]:
    """Why ``name`` is not a valid ROS topic name before expansion (rcl's rules: relative names,
    ``~/`` and ``{substitutions}`` allowed); None when it is valid."""
    if not name:
        return 'topic name must not be empty'
    if _digit(name[0]):
        return 'topic name token must not start with a number'
    if name[-1] == '/':
        return "topic name must not end with a '/'"
    in_brace, brace_at = False, 0
    for i, ch in enumerate(name):
        if _alnum(ch):
            if _digit(ch) and in_brace and i - 1 == brace_at:
                return 'substitution name must not start with a number'
        elif ch == '_':
            pass
        elif ch == '/':
            if in_brace:
                return "substitution name must not contain '/'"
        elif ch == '~':
            if i != 0:
                return "topic name must not have '~' unless it is the first character"
        elif ch == '{':
            if in_brace:
                return "topic name must not nest '{'"
            in_brace, brace_at = True, i
        elif ch == '}':
            if not in_brace:
                return "topic name must not have an unmatched '}'"
            in_brace = False
        else:
            return (f"topic name has {ch!r}, a character ROS does not allow (letters, digits, "
                    "'_', '/', a leading '~', '{}')")
    if in_brace:
        return "topic name must not have an unmatched '{'"
    if _token_starts_with_digit(name) is not None:
        return 'topic name token must not start with a number'
    # rcl looks at the character after '~' only when another follows it ('~a' passes rcl, and
    # is left to the expansion; '~ab' does not): the same here, so both say the same
    if name[0] == '~' and len(name) > 2 and name[1] != '/':
        return "topic name must not have a '~' that is not followed by '/'"
    return None


def full_topic_name_problem(name: str) -> Optional[str]:
    """Why ``name`` is not a valid fully qualified (expanded) topic name (rmw's rules)."""
    if not name:
        return 'topic name must not be empty'
    if name[0] != '/':
        return "topic name must be absolute (lead with '/')"
    if name[-1] == '/':
        return "topic name must not end with a '/'"
    for ch in name:
        if not (_alnum(ch) or ch in '_/'):
            return (f"topic name has {ch!r}, a character ROS does not allow (letters, digits, "
                    "'_', '/')")
    if '//' in name:
        return "topic name must not contain repeated '/'"
    if _token_starts_with_digit(name) is not None:
        return 'topic name token must not start with a number'
    if len(name) > TOPIC_MAX_LENGTH:
        return f'topic name must not be longer than {TOPIC_MAX_LENGTH} characters'
    return None


def node_name_problem(name: str) -> Optional[str]:
    """Why ``name`` is not a valid ROS node name (rmw's rules)."""
    if not name:
        return 'node name must not be empty'
    for ch in name:
        if not (_alnum(ch) or ch == '_'):
            return (f"node name has {ch!r}, a character ROS does not allow (letters, digits, "
                    "'_')")
    if _digit(name[0]):
        return 'node name must not start with a number'
    if len(name) > NODE_NAME_MAX_LENGTH:
        return f'node name must not be longer than {NODE_NAME_MAX_LENGTH} characters'
    return None


def namespace_problem(name: str) -> Optional[str]:
    """Why ``name`` is not a valid absolute ROS namespace (rmw's rules; '/' is valid)."""
    if name == '/':
        return None
    problem = full_topic_name_problem(name)
    if problem is not None and 'longer than' not in problem:
        return problem.replace('topic name', 'namespace')
    if len(name) > NAMESPACE_MAX_LENGTH:
        return f'namespace must not be longer than {NAMESPACE_MAX_LENGTH} characters'
    return None


def remappable_topic_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot be a topic in a remap rule or a subscription: rcl's rules, then rmw's
    on the name as it expands (a relative name under a namespace, ``~`` under a node), which
    catches what rcl checks only after expansion (``a//b``)."""
    problem = topic_name_problem(name)
    if problem is not None or '{' in name:
        return problem
    expanded = name if name.startswith('/') else '/ns/node' + name[1:] if name.startswith(
        '~') else '/' + name
    problem = full_topic_name_problem(expanded)
    if problem is not None and 'longer than' in problem and not name.startswith('/'):
        return None        # the length depends on the namespace it expands under
    return problem


_NAME_RULES = {'topic name': remappable_topic_problem,
               'fully qualified topic name': full_topic_name_problem,
               'node name': node_name_problem, 'namespace': namespace_problem}


def ros_name(field: str, value: Any, kind: str = 'topic name',
             error: ErrorType = InputError) -> str:
    """``value`` if it is a valid ROS ``kind`` ('topic name', 'fully qualified topic name',
    'node name', 'namespace'); else one line: the field, the value and the rule it breaks."""
    at = f'{field}: ' if field else ''
    if not isinstance(value, str):
        raise error(f'{at}expected a {kind} (string), got {type_name(value)} {short(value)}')
    problem = _NAME_RULES[kind](value)
    if problem is not None:
        raise error(f'{at}{short(value)} is not a valid ROS {kind}: {problem}')
    return value


# -- command-line flags (argparse ``type=``) ------------------------------------------------------
def arg_number(integer: bool = False, lo: Optional[float] = None, hi: Optional[float] = None,
               lo_open: bool = False) -> Callable[[str], Any]:
    """An argparse ``type`` for a finite number in range: argparse then prints
    ``PROG: error: argument --fps: 'nan' is not a finite number; expected ...`` and exits 2."""
    import argparse

    def parse(text: str):
        want = 'integer' if integer else 'number'
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            rng = _range_text(lo, hi, lo_open)
            raise argparse.ArgumentTypeError(
                f"{short(text)}: expected {'an' if integer else 'a'} {want}"
                + (f' {rng}' if rng else '')) from None
        return number('', value, integer=integer, lo=lo, hi=hi, lo_open=lo_open,
                      error=argparse.ArgumentTypeError, want=want)
    parse.__name__ = 'integer' if integer else 'number'
    return parse


# the flags' common kinds
arg_positive = arg_number(lo=0.0, lo_open=True)          # a frame rate, a timeout
arg_nonnegative = arg_number(lo=0.0)                     # a rate where 0 means "as fast"
arg_fraction = arg_number(lo=0.0, hi=1.0)                # a score threshold
arg_count = arg_number(integer=True, lo=1)               # videos, frames, messages
arg_natural = arg_number(integer=True, lo=0)             # a seed, a pixel value, an area


# -- files a user writes by hand: a key given twice is a mistake, not "the last one wins" -------
def unique_json_object(field: str, error: ErrorType = InputError):
    """A ``json.loads(object_pairs_hook=...)`` that refuses a key given twice in one object."""
    def hook(pairs):
        distinct(f'{field}: key', [k for k, _ in pairs], error=error)
        return dict(pairs)
    return hook


def load_yaml_unique(text: str, field: str, error: ErrorType = InputError):
    """``yaml.safe_load`` that refuses a key given twice in one mapping (PyYAML keeps the last
    in silence); yaml.YAMLError for text that is not YAML."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
        distinct(f'{field}: key', keys, error=error)
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Loader)  # noqa: S506 - a SafeLoader subclass
