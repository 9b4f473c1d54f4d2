"""
Apply field tables to a JSON object; pure, never raises.

The `Mapper` keeps three things apart:

- canonical fields, always of the documented type (or null when null was sent);
- `extra`: every value no table maps, unchanged, under its original path
  (`"consent_id"`, `"kyc_result.foo"`, `"records[2]"`);
- warnings (path + code, never the value) for values kept as given: unparseable
  timestamps and dates stay in place, values of an unexpected type or values
  that conflict with an alias already mapped move to `extra`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bridge.normalize.rules import (
    FieldWarning,
    Group,
    Items,
    Kind,
    Path,
    Rule,
    Table,
    WarningCode,
    render_path,
)
from bridge.normalize.timestamps import is_date, parse_timestamp
from bridge.types import JSONObject, JSONValue

__all__ = ["Mapper"]


def _source_key(path: Path) -> str:
    head, *rest = path
    return str(head) + render_path("", tuple(rest))


@dataclass(slots=True)
class Mapper:
    """Collect canonical fields, the unmapped residue and warnings for one payload."""

    extra: JSONObject = field(default_factory=dict)
    warnings: list[FieldWarning] = field(default_factory=list)
    timestamps: dict[Path, str] = field(default_factory=dict)

    def map_object(
        self,
        source: JSONObject,
        table: Table,
        out: JSONObject,
        out_path: Path,
        src_path: Path,
        *,
        keep_unknown: bool = False,
    ) -> None:
        """Map every key of `source` through `table` into `out`."""
        for key, value in source.items():
            rule = table.get(key)
            if rule is not None:
                if type(value) in rule.as_is and rule.target[0] not in out:
                    out[rule.target[0]] = value
                else:
                    self.apply(rule, value, out, out_path, (*src_path, key))
            elif keep_unknown and key not in out:
                out[key] = value
            else:
                self.keep((*src_path, key), value, "conflicting_value" if keep_unknown else None)

    def apply(
        self, rule: Rule, value: JSONValue, out: JSONObject, out_path: Path, src: Path
    ) -> None:
        """Apply one rule to one source value."""
        kind = rule.kind
        if isinstance(kind, Group):
            self._group(rule, kind, value, out, at=out_path, src=src)
        elif isinstance(kind, Items):
            self._items(rule, kind, value, out, at=out_path, src=src)
        else:
            self._scalar(rule, kind, value, out, at=out_path, src=src)

    def keep(self, src: Path, value: JSONValue, code: WarningCode | None) -> None:
        """Keep an unmapped value in `extra` under its source path, flagged if `code`."""
        key = _source_key(src)
        self.extra.setdefault(key, value)
        if code is not None:
            self.warnings.append(FieldWarning(render_path("data.extra", (key,)), code))

    # ----------------------------------------------------------------------- kinds

    def _group(
        self, rule: Rule, kind: Group, value: JSONValue, out: JSONObject, *, at: Path, src: Path
    ) -> None:
        if isinstance(value, dict):
            node = _node(out, rule.target)
            if node is None:
                self.keep(src, value, "conflicting_value")
            else:
                self.map_object(value, kind.table, node, (*at, *rule.target), src)
        elif kind.scalar is not None:
            self.apply(kind.scalar, value, out, at, src)
        elif value is None and rule.target:
            self._put(out, rule.target, None, src)
        else:
            self.keep(src, value, None if value is None else "unexpected_type")

    def _items(
        self, rule: Rule, kind: Items, value: JSONValue, out: JSONObject, *, at: Path, src: Path
    ) -> None:
        wrapped = isinstance(value, dict) and kind.wrap_object
        if wrapped:
            value = [value]
        if value is not None and not isinstance(value, list):
            self.keep(src, value, "unexpected_type")
            return
        if _lookup(out, rule.target) is not _ABSENT:
            self.keep(src, value, "conflicting_value")
            return
        if value is None:
            self._put(out, rule.target, None, src)
            return
        produced: list[JSONValue] = []
        self._put(out, rule.target, produced, src)
        at = (*at, *rule.target)
        table, keep_unknown = kind.table, kind.keep_unknown
        for index, element in enumerate(value):
            if not isinstance(element, dict):
                self.keep((*src, index), element, "unexpected_type")
                continue
            item: JSONObject = {}
            if not _copy_plain(element, table, item, keep_unknown):
                item = {}
                item_at, item_src = (*at, len(produced)), src if wrapped else (*src, index)
                self.map_object(element, table, item, item_at, item_src, keep_unknown=keep_unknown)
            produced.append(item)

    def _scalar(
        self, rule: Rule, kind: Kind, value: JSONValue, out: JSONObject, *, at: Path, src: Path
    ) -> None:
        if value is None or kind == "any":
            self._put(out, rule.target, value, src)
            return
        if not _has_kind(kind, value):
            self.keep(src, value, "unexpected_type")
            return
        if kind == "timestamp" and isinstance(value, str):
            parsed = parse_timestamp(value)
            if self._put(out, rule.target, parsed or value, src):
                path = (*at, *rule.target)
                if parsed is None:
                    self.warnings.append(
                        FieldWarning(render_path("data", path), "unparsed_timestamp")
                    )
                else:
                    self.timestamps[path] = parsed
        elif kind == "date" and isinstance(value, str):
            if self._put(out, rule.target, value, src) and not is_date(value):
                path = (*at, *rule.target)
                self.warnings.append(FieldWarning(render_path("data", path), "unparsed_date"))
        else:
            self._put(out, rule.target, value, src)

    def _put(self, out: JSONObject, target: tuple[str, ...], value: JSONValue, src: Path) -> bool:
        """Set `target` to `value`; on a different value already there, keep it aside."""
        parent = _node(out, target[:-1])
        if parent is not None and target[-1] not in parent:
            parent[target[-1]] = value
            return True
        if parent is None or not _same(parent[target[-1]], value):
            self.keep(src, value, "conflicting_value")
        return False


def _copy_plain(source: JSONObject, table: Table, out: JSONObject, keep_unknown: bool) -> bool:
    """
    `map_object` for the common item whose every value is stored as is: no paths needed.

    False when some value needs more; `out` is then partly filled and must be discarded.
    """
    for key, value in source.items():
        rule = table.get(key)
        if rule is None:
            if not keep_unknown or key in out:
                return False
            out[key] = value
        elif type(value) in rule.as_is and rule.target[0] not in out:
            out[rule.target[0]] = value
        else:
            return False
    return True


class _Absent:
    pass


_ABSENT = _Absent()


def _same(left: JSONValue, right: JSONValue) -> bool:
    """JSON equality (unlike ==, `1`, `1.0` and `true` differ)."""
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


def _has_kind(kind: Kind, value: JSONValue) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "text_list":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, str)


def _node(out: JSONObject, target: tuple[str, ...]) -> JSONObject | None:
    """Return the object at `target`, creating it; None when something else is there."""
    node = out
    for segment in target:
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            return None
        node = child
    return node


def _lookup(out: JSONObject, target: tuple[str, ...]) -> JSONValue | _Absent:
    node: JSONValue = out
    for segment in target:
        if not isinstance(node, dict) or segment not in node:
            return _ABSENT
        node = node[segment]
    return node
