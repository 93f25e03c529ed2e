"""docs/BENCHMARKS.md as blocks: how ``scripts/bench.py`` finds, replaces and keeps its sections.

The report is a preamble (title, which section was measured when, the machine, the notes, the
headline) followed by blocks, each opened by an HTML comment on a line of its own (invisible when
the markdown is rendered, kept by every renderer and by ``git``):

* ``<!-- bench:section NAME measured="..." minutes="..." load="..." cmd="..." -->``: a section
  bench.py measures (NAME one of its SECTIONS); it runs to the next marker or the end of the file;
* ``<!-- bench:manual NAME -->``: hand-written text (a one-off measurement, a note) that bench.py
  never rewrites and keeps after the block it follows;
* ``<!-- bench:headline NAME -->`` (in the preamble's headline): the bullets of section NAME.

A run re-measures the sections it was asked for and replaces exactly those blocks and their
headline bullets; every other block is kept byte for byte. A section that is measured but not yet
in the file goes before the first section that comes after it in SECTIONS order. Everything
before the first marker is the preamble, which bench.py writes anew each time from the markers'
attributes (so it says which section was measured when). A file without markers (written before
they existed, or by hand) is refused: rewriting it would silently drop what is in it.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, List, Optional, Sequence

MARKER = re.compile(r'^<!-- bench:(section|manual|headline) ([a-z0-9_]+)((?: [a-z_]+="[^"]*")*)'
                    r' ?-->$')
ATTR = re.compile(r'([a-z_]+)="([^"]*)"')
ATTRS = ('measured', 'minutes', 'load', 'cmd')


class ReportError(ValueError):
    """The existing report cannot be merged into (one line, for the user)."""


@dataclasses.dataclass
class Block:
    kind: str                 # 'section' | 'manual' | 'headline'
    name: str
    attrs: Dict[str, str]
    text: str                 # the whole block, marker line included, ending in a newline


def marker(kind: str, name: str, attrs: Optional[Dict[str, str]] = None) -> str:
    """The marker line (no newline); attribute values lose any double quote."""
    extra = ''.join(f' {k}="{str(v).replace(chr(34), chr(39))}"'
                    for k, v in (attrs or {}).items())
    return f'<!-- bench:{kind} {name}{extra} -->'


def parse(text: str) -> tuple:
    """(preamble, [Block]) of a report; a marker-less text gives (text, [])."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, ln in enumerate(lines) if MARKER.match(ln.rstrip('\n'))]
    if not starts:
        return text, []
    blocks = []
    for i, s in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(lines)
        m = MARKER.match(lines[s].rstrip('\n'))
        body = ''.join(lines[s:end])
        blocks.append(Block(m.group(1), m.group(2), dict(ATTR.findall(m.group(3))),
                            body if body.endswith('\n') else body + '\n'))
    return ''.join(lines[:starts[0]]), blocks


def check_mergeable(text: str, path: str) -> None:
    """ReportError unless ``text`` (an existing report) has section markers."""
    _, blocks = parse(text)
    if not any(b.kind == 'section' for b in blocks):
        raise ReportError(f'{path}: an existing report without `<!-- bench:section NAME -->` '
                          'markers (written by hand or before they existed); rewriting it would '
                          'drop its contents: add the markers, choose another --out, or pass '
                          '--force to replace it')


def section_block(name: str, attrs: Dict[str, str], body: str, note: str = '') -> str:
    """A measured section: its marker, its heading (the body's first line), a line saying when
    and how it was measured (and ``note``), then the rest of the body."""
    head, _, rest = body.lstrip('\n').partition('\n')
    when = (f'*Measured {attrs["measured"]} by `{attrs["cmd"]}`: {attrs["minutes"]} min, '
            f'load average (1 min) {attrs["load"]}.*{note}')
    return (marker('section', name, attrs) + '\n' + head + '\n\n' + when + '\n'
            + rest.rstrip('\n') + '\n\n')


def headline_block(name: str, bullets: Sequence[str]) -> str:
    return marker('headline', name) + '\n' + ''.join(b + '\n' for b in bullets)


def merge(old: List[Block], new: Dict[str, str], order: Sequence[str]) -> List[Block]:
    """``old`` with the section blocks named in ``new`` (name -> block text) replaced, and those
    not in ``old`` inserted by ``order``; manual and other blocks kept in place."""
    fresh = {n: parse(t)[1][0] for n, t in new.items()}
    out = [fresh[b.name] if b.kind == 'section' and b.name in new else b for b in old]
    present = {b.name for b in out if b.kind == 'section'}
    rank = {n: i for i, n in enumerate(order)}
    for name in [n for n in order if n in new and n not in present]:
        at = next((i for i, b in enumerate(out) if b.kind == 'section'
                   and rank.get(b.name, -1) > rank[name]), len(out))
        out.insert(at, fresh[name])
    return out


def merge_headline(old: List[Block], new: Dict[str, List[str]], ran: Sequence[str],
                   order: Sequence[str]) -> str:
    """The headline's bullet groups: a section that ran gets its new bullets (none: its group
    goes), the others keep theirs byte for byte; groups in ``order``, unknown ones last."""
    groups = {b.name: b.text for b in old if b.kind == 'headline'}
    for name in ran:
        groups.pop(name, None)
        if new.get(name):
            groups[name] = headline_block(name, new[name])
    rank = {n: i for i, n in enumerate(order)}
    names = sorted(groups, key=lambda n: rank.get(n, len(order)))
    return ''.join(groups[n].rstrip('\n') + '\n' for n in names)


def heading(block: Block) -> str:
    """A block's first markdown heading, without its #s."""
    return next((ln.lstrip('#').strip() for ln in block.text.splitlines()
                 if ln.startswith('#')), block.name)


def when_table(blocks: List[Block]) -> List[str]:
    """The page header's table: each section, when it was measured, how long, at what load."""
    rows = ['| section | measured (UTC) | minutes | load average (1 min) | command |',
            '|---|---|---|---|---|']
    for b in blocks:
        if b.kind == 'section':
            a = b.attrs
            rows.append(f'| {heading(b)} | {a.get("measured", "?")} | {a.get("minutes", "?")} '
                        f'| {a.get("load", "?")} | `{a.get("cmd", "?")}` |')
    return rows


def assemble(preamble: str, headline: str, blocks: List[Block]) -> str:
    """The whole report: preamble, '## Headline' with its groups, then the blocks."""
    body = ''.join(b.text if b.text.endswith('\n\n') else b.text + '\n'
                   for b in blocks if b.kind != 'headline')
    head = preamble.rstrip('\n') + '\n\n'
    if headline:
        head += '## Headline\n\n' + headline + '\n'
    return (head + body).rstrip('\n') + '\n'


def read(path: str, force: bool) -> List[Block]:
    """The blocks of the report at ``path`` ([] if none, or --force on one without markers);
    ValueError (one line) for an existing report without markers."""
    if not os.path.exists(path):
        return []
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        check_mergeable(text, path)
    except ReportError:
        if force:
            return []
        raise
    return parse(text)[1]
