"""A model's classes as ground-truth categories: by name, through a class map, or by position.

The class map (``--class-map FILE`` of ``replay`` and ``evaluate``) is a YAML or JSON mapping
**model class name -> GT category name**, the way a user reads it: "what my model calls
``person``, this dataset calls ``pedestrian``"::

    person: pedestrian      # BDD100K's name for the model's 'person'
    truck: car              # several model classes may go to one GT category
    traffic light: null     # null: drop this model class explicitly

Rules (``map_classes``):

1. a model class named in the map goes to the GT category it names (``null``: dropped);
2. any other model class goes to the GT category of the same name;
3. model classes left without a category are dropped: their detections are removed before
   scoring and the report names them (a GT with only 'car' scores a driving model on cars);
4. with no map and no name in common, a model with as many classes as the GT has categories is
   taken in the training order (class index k -> the k-th smallest GT category id).

A GT category that no model class maps to keeps AP 0 where it has annotations, with a warning:
pycocotools averages over every category with ground truth, and a class the detector cannot
output is missed, not excused (excluding it would rank a detector that cannot see riders with
one that can). A name in the map that is neither a model class nor a GT category, or that is on
the wrong side, is a one-line error.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Optional, Sequence

WHAT = '--class-map'


def _short(names) -> str:
    names = list(names)
    more = f', ... ({len(names)} in all)' if len(names) > 8 else ''
    return ', '.join(repr(n) for n in names[:8]) + more


def load_class_map(path) -> dict[str, Optional[str]]:
    """Reads a class map file (``.json`` as JSON, anything else as YAML).

    Raises:
        ValueError: one line naming the file and what was expected.
    """
    import yaml
    p = pathlib.Path(path)
    try:
        text = p.read_text(encoding='utf-8')
    except FileNotFoundError:
        raise ValueError(f'{WHAT} {p}: file not found') from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as e:
        raise ValueError(f'{WHAT} {p}: cannot read it as text ({type(e).__name__})') from None
    from video_perception import validate
    try:
        # a model class given twice is refused (JSON and YAML would keep the last in silence)
        data = (json.loads(text, object_pairs_hook=validate.unique_json_object(f'{WHAT} {p}',
                                                                               ValueError))
                if p.suffix.lower() == '.json' else
                validate.load_yaml_unique(text, f'{WHAT} {p}', ValueError))
    except json.JSONDecodeError as e:
        raise ValueError(f'{WHAT} {p}: not valid JSON ({e})') from None
    except yaml.YAMLError as e:
        mark = getattr(e, 'problem_mark', None)
        where = f'line {mark.line + 1}: ' if mark is not None else ''
        problem = getattr(e, 'problem', None) or str(e).splitlines()[0]
        raise ValueError(f'{WHAT} {p}: not valid YAML ({where}{problem})') from None
    if not isinstance(data, dict) or not data:
        got = 'an empty file' if data is None or data == {} else f'a {type(data).__name__}'
        raise ValueError(f'{WHAT} {p}: expected a mapping of model class name -> GT category '
                         f'name (e.g. "person: pedestrian"), got {got}')
    for key, value in data.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str)):
            raise ValueError(f'{WHAT} {p}: entry {key!r}: {value!r}: expected model class name: '
                             'GT category name (names are text; null drops the class)')
    return data


@dataclasses.dataclass
class ClassMapping:
    """cat_ids: model class index -> GT category id (None: dropped); method: 'name',
    'class map' or 'index'; dropped: model classes scored nowhere; unmapped: GT categories no
    model class maps to (with their annotation counts); renamed: model name -> GT name where
    they differ."""

    cat_ids: list[Optional[int]]
    method: str
    dropped: list[str]
    unmapped: dict[str, int]
    renamed: dict[str, str]
    merged: dict[str, list] = dataclasses.field(default_factory=dict)

    def report(self) -> dict:
        """The report's ``classes`` entry."""
        return {'method': self.method, 'dropped_model_classes': self.dropped,
                'gt_categories_without_class': list(self.unmapped),
                'class_map': self.renamed}

    def warnings(self) -> list[str]:
        """One line per GT category that has annotations and no model class."""
        return [f"GT category '{name}' ({n} annotations) has no model class mapped to it: its AP "
                'is 0 and counts in the mean (COCO averages over every category with ground '
                f'truth); map one to it with {WHAT}' for name, n in self.unmapped.items() if n] + [
            f"model classes {_short(names)} all score as GT category '{target}' (some by their "
            f'own name): their detections are merged; map each in {WHAT} if that is meant, or '
            'map one to null' for target, names in sorted(self.merged.items())]


def _check_names(class_map: dict, model: Sequence[str], gt: dict, source) -> None:
    """One line for the first name of the map on the wrong side or on neither."""
    model_set = set(model)
    for key, value in class_map.items():
        if key not in model_set:
            if key in gt and value in model_set:
                raise ValueError(f"{WHAT} {source}: '{key}' is a GT category, not a model class: "
                                 'the map goes model class -> GT category (e.g. '
                                 f'"{value}: {key}")')
            raise ValueError(f"{WHAT} {source}: '{key}' is not a model class (model classes: "
                             f'{_short(model)})')
        if value is not None and value not in gt:
            side = ', which is a model class' if value in model_set else ''
            raise ValueError(f"{WHAT} {source}: '{key}' maps to '{value}'{side}; expected a GT "
                             f'category (GT categories: {_short(gt)})')


def map_classes(model_names: Sequence[str], categories: list[dict],
                class_map: Optional[dict] = None, annotations: Sequence[dict] = (),
                source='') -> ClassMapping:
    """Maps model classes (by index) onto the GT ``categories`` as the module docstring says.

    Args:
        annotations: the GT annotations, to count what an unmapped category loses.
        source: the class map's file, for messages.
    Raises:
        ValueError: bad names in the map, or nothing can be put in line (one line).
    """
    model_names = [str(n) for n in model_names]
    by_name = _categories_by_name(categories)
    class_map = dict(class_map or {})
    _check_names(class_map, model_names, by_name, source)
    targets = [class_map[n] if n in class_map else (n if n in by_name else None)
               for n in model_names]
    method = 'class map' if class_map else 'name'
    if not any(targets):
        ids = sorted(by_name.values())
        if not class_map and len(ids) == len(model_names):
            names = {v: k for k, v in by_name.items()}
            targets, method = [names[i] for i in ids], 'index'
        else:
            how = f'{WHAT} maps no class to a GT category' if class_map else \
                f'no name in common (give {WHAT} FILE: model class -> GT category)'
            raise ValueError(f'model classes {_short(model_names)} do not match the ground-truth '
                             f'categories {_short(by_name)}: {how}')
    cat_ids = [None if t is None else by_name[t] for t in targets]
    counts = {i: 0 for i in by_name.values()}
    for a in annotations:
        counts[a['category_id']] = counts.get(a['category_id'], 0) + 1
    unmapped = {n: counts[i] for n, i in by_name.items() if i not in set(cat_ids)}
    dropped = [n for n, t in zip(model_names, targets) if t is None]
    renamed = {n: t for n, t in zip(model_names, targets) if t is not None and t != n}
    merged = {}
    for target in {t for t in targets if t is not None}:
        sources = [n for n, t in zip(model_names, targets) if t == target]
        # several classes on one category: meant when the map says so for each of them; one
        # that arrives by its name beside a mapped one may be an oversight (a warning)
        if len(sources) > 1 and any(n not in class_map for n in sources):
            merged[target] = sources
    return ClassMapping(cat_ids, method, dropped, unmapped, renamed, merged)


def _categories_by_name(categories: list[dict]) -> dict[str, int]:
    """GT category name -> id; two categories with one name is a one-line error (a class
    matched by that name would score against one of them at random)."""
    by_name: dict[str, int] = {}
    for c in categories:
        name = str(c.get('name'))
        if name in by_name:
            raise ValueError(f"ground truth: categories {by_name[name]} and {c['id']} are both "
                             f"named '{name}'; expected distinct category names")
        by_name[name] = int(c['id'])
    return by_name


def results_on_gt(results, categories: list[dict], class_map: Optional[dict] = None,
                  annotations: Sequence[dict] = (), source='') -> tuple:
    """(``results`` with GT category ids, its ``ClassMapping``) for a results file that names
    its categories; (``results``, None) for one that does not (its ids must be the GT's)."""
    from video_perception.eval.results import remap_categories
    if results.categories is None:
        if class_map:
            raise ValueError(f"{WHAT} {source}: the results file does not name its categories "
                             "(no 'categories' list, as replay writes one), so its classes "
                             'cannot be matched by name')
        return results, None
    ids = sorted(results.categories)
    mapping = map_classes([results.categories[i] for i in ids], categories, class_map,
                          annotations, source)
    return remap_categories(results, dict(zip(ids, mapping.cat_ids))), mapping
