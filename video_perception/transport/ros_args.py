"""The ``--ros-args`` subset launch files use, parsed without ROS.

Supported (as rcl parses them): ``-p/--param name:=value`` (value typed as YAML like ROS),
``--params-file FILE`` (``node_name:``, ``/ns/node_name:``, ``/**:`` or ``/**/node_name:`` keys
holding ``ros__parameters``, nested mappings flattened to dotted names), ``-r/--remap from:=to``
(also ``node_name:from:=to``), ``__node:=`` / ``__ns:=`` remaps, ``--log-level [name:=]LEVEL``.
Everything after a ``--`` that closes ``--ros-args`` and everything outside it is returned as the
program's own arguments. One parameter YAML thus serves the rclpy and the DDS transport.
"""
from __future__ import annotations

import dataclasses
import pathlib
import re
from typing import Any, Dict, List, Optional, Tuple

import yaml

from video_perception import validate

LOG_LEVELS = ('debug', 'info', 'warn', 'warning', 'error', 'fatal')


class RosArgsError(ValueError):
    """A malformed or unknown ``--ros-args`` token; the message names it."""

    unknown_token = False


@dataclasses.dataclass
class RosArgs:
    """Parsed arguments.

    sources: parameter sources in command-line order (later wins), each ('param', name, value)
        or ('file', path, {node_key: {param: value}}).
    remaps: list of (node_name or None, from, to) for topic remaps.
    """

    sources: List[Tuple] = dataclasses.field(default_factory=list)
    remaps: List[Tuple[Optional[str], str, str]] = dataclasses.field(default_factory=list)
    node_name: Optional[str] = None
    namespace: Optional[str] = None
    log_level: Optional[str] = None
    rest: List[str] = dataclasses.field(default_factory=list)

    def parameters_for(self, node_name: str, namespace: str = '/') -> Dict[str, Any]:
        """Parameter overrides that apply to the node ``namespace/node_name``, later wins."""
        fqn = join_name(namespace, node_name)
        out: Dict[str, Any] = {}
        for source in self.sources:
            if source[0] == 'param':
                out[source[1]] = source[2]
                continue
            for key, params in source[2].items():
                if _node_key_matches(key, node_name, fqn):
                    out.update(params)
        return out

    def remaps_for(self, node_name: str) -> List[Tuple[str, str]]:
        return [(src, dst) for node, src, dst in self.remaps if node in (None, node_name)]


def join_name(namespace: str, name: str) -> str:
    namespace = '/' + namespace.strip('/')
    return (namespace.rstrip('/') + '/' + name) if name else namespace


def _node_key_matches(key: str, node_name: str, fqn: str) -> bool:
    """Whether a parameter file's node key applies to the node ``fqn``, as rclpy decides: a key
    without a leading '/' is absolute all the same, each ``*`` token stands for one namespace or
    name token and ``**`` for any number of them (none included); the whole name must match."""
    key = '/' + key.strip().lstrip('/')
    parts = []
    for token in key.split('/')[1:]:
        parts.append(r'(/\w+)*' if token == '**' else r'(/\w+)' if token == '*'
                     else '/' + re.escape(token))
    return re.fullmatch(''.join(parts), fqn) is not None


def _check_node_key(key: str, path: str) -> None:
    """rcl's parameter-file parser refuses a node key whose tokens are neither ``*``, ``**`` nor
    node-name tokens (``/n*`` is not a wildcard it knows); so does this one, in one line."""
    tokens = key.strip().strip('/').split('/')
    for token in tokens:
        if token in ('*', '**'):
            continue
        problem = validate.node_name_problem(token)
        if problem is not None:
            raise RosArgsError(f'--params-file {path}: node key {key!r}: {problem} (expected '
                               f"node and namespace tokens, '*' or '**')")


def yaml_value(text: str) -> Any:
    """A command-line parameter value typed like ROS does (YAML scalars and lists)."""
    if not text.strip():
        return text
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if value is None and text.strip() not in ('', '~', 'null', 'Null', 'NULL'):
        return text
    if isinstance(value, dict):  # 'a: b' style text is a string for ROS
        return text
    return value


def _flatten(prefix: str, value: Any, out: Dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f'{prefix}.{k}' if prefix else str(k), v, out)
    else:
        out[prefix] = value


def load_params_file(path: str) -> Dict[str, Dict[str, Any]]:
    """Read a ROS 2 parameter YAML: {node key: {dotted param name: value}}.

    Raises:
        RosArgsError: unreadable file or a layout without ``ros__parameters``.
    """
    p = pathlib.Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise RosArgsError(f'--params-file {path}: cannot read ({exc.strerror or exc}); '
                           'expected a ROS 2 parameter YAML file') from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = f'line {mark.line + 1}: ' if mark is not None else ''
        problem = getattr(exc, 'problem', None) or str(exc).splitlines()[0]
        raise RosArgsError(f'--params-file {path}: not valid YAML ({where}{problem})') from None
    if not isinstance(data, dict):
        raise RosArgsError(f'--params-file {path}: expected a mapping of node names, '
                           f'got {type(data).__name__}')
    out: Dict[str, Dict[str, Any]] = {}

    def walk(prefix: str, node: Any) -> None:
        if not isinstance(node, dict):
            raise RosArgsError(f"--params-file {path}: '{prefix}' has no ros__parameters")
        for key, value in node.items():
            if key == 'ros__parameters':
                params: Dict[str, Any] = {}
                _flatten('', value or {}, params)
                if prefix:
                    _check_node_key(prefix, path)
                out.setdefault(prefix or '/**', {}).update(params)
            else:
                # nested namespaces: {ns: {node: {ros__parameters: ...}}}
                walk(f'{prefix}/{str(key).strip("/")}' if prefix else str(key), value)
    walk('', data)
    return out


def _split_assignment(token: str, flag: str) -> Tuple[str, str]:
    if ':=' not in token:
        raise RosArgsError(f"{flag} '{token}': expected name:=value")
    name, value = token.split(':=', 1)
    if not name:
        raise RosArgsError(f"{flag} '{token}': empty name before ':='")
    return name, value


def parse(argv: List[str]) -> RosArgs:
    """Split ``argv`` (without the program name) into our RosArgs and the program's own args.

    Raises:
        RosArgsError: one line naming the offending token.
    """
    args = RosArgs()
    i, in_ros = 0, False
    while i < len(argv):
        tok = argv[i]
        if tok == '--ros-args':
            in_ros = True
            i += 1
            continue
        if not in_ros:
            args.rest.append(tok)
            i += 1
            continue
        if tok == '--':
            in_ros = False
            i += 1
            continue
        if tok in ('-p', '--param', '-r', '--remap', '--params-file', '--log-level'):
            if i + 1 >= len(argv):
                raise RosArgsError(f"--ros-args: '{tok}' needs a value")
            val = argv[i + 1]
            i += 2
            if tok in ('-p', '--param'):
                name, value = _split_assignment(val, tok)
                args.sources.append(('param', name, yaml_value(value)))
            elif tok == '--params-file':
                args.sources.append(('file', val, load_params_file(val)))
            elif tok == '--log-level':
                level = val.split(':=', 1)[-1].lower()
                if level not in LOG_LEVELS:
                    raise RosArgsError(f"--log-level '{val}': expected one of "
                                       f"{', '.join(LOG_LEVELS)}")
                args.log_level = 'warn' if level == 'warning' else level
            else:
                _add_remap(args, val, tok)
            continue
        error = RosArgsError(f"--ros-args: unknown token '{tok}'; supported: -p/--param, "
                             '--params-file, -r/--remap, --log-level')
        error.unknown_token = True      # rcl knows more flags (--enclave, ...): rclpy decides
        raise error
    return args


def _add_remap(args: RosArgs, token: str, flag: str) -> None:
    """A remap rule, its names checked by the ROS rules (rcl refuses the same ones)."""
    src, dst = _split_assignment(token, flag)
    node = None
    if ':' in src:  # 'node_name:from:=to' applies to one node only
        node, src = src.split(':', 1)
        _check_name(flag, token, 'node name', node, 'node name')
    if src == '__node' or src == '__name':
        _check_name(flag, token, 'node name', dst, 'node name')
        args.node_name = dst
    elif src == '__ns':
        _check_name(flag, token, 'namespace', dst, 'namespace')
        args.namespace = dst
    else:
        _check_name(flag, token, 'remapped topic', src, 'topic name')
        _check_name(flag, token, 'remap target', dst, 'topic name')
        args.remaps.append((node, src, dst))


def _check_name(flag: str, token: str, what: str, name: str, kind: str) -> None:
    try:
        validate.ros_name(f'{what} {name!r}', name, kind, error=RosArgsError)
    except RosArgsError as exc:
        raise RosArgsError(f"{flag} '{token}': {str(exc).split(': ', 1)[1]}") from None


def resolve_topic(name: str, node_name: str, namespace: str,
                  remaps: List[Tuple[str, str]] = ()) -> str:
    """A topic name as ROS 2 resolves it: expand ``~`` and relative names, then apply remaps.

    Raises:
        ValueError: an empty name or one with characters ROS does not allow.
    """
    def expand(n: str) -> str:
        problem = validate.topic_name_problem(n)
        if problem is not None:
            raise ValueError(f'topic name {n!r} is not valid: {problem}')
        if n.startswith('~'):
            n = join_name(namespace, node_name) + n[1:]
        elif not n.startswith('/'):
            n = join_name(namespace, n)
        problem = validate.full_topic_name_problem(n)
        if problem is not None:
            raise ValueError(f'topic name {n!r} is not valid: {problem}')
        return n
    resolved = expand(name)
    for src, dst in remaps:
        if expand(src) == resolved:
            return expand(dst)
    return resolved
