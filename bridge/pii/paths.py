"""
Which fields of an event's `data` are personal, read from the schemas, and the
split of `data` into a clear part and a personal part.

A property is personal when its schema, or anything its `$ref`/`allOf`/`anyOf`/
`oneOf` reach, says `"x-kyc-pii": true`. `$ref`s resolve between the given
documents by `$id` (`urn:kyc-bridge:schema:argos.fields.v1#/$defs/text`) and
inside a document (`#/$defs/...`); nothing is fetched.

The tree mirrors `data`: `True` = the whole value is personal, a mapping = descend.

    {"email": True, "review": {"comment": True}, "additional_list": True}

Arrays are all or nothing: an array whose items have a personal property is
personal as a whole (the positions of items carry no meaning worth keeping clear).
A value whose shape is not the one the schema describes (an object expected, a
string or null found) is personal as a whole when anything under it is marked.
A recursive schema is personal as a whole where anything inside it is marked.
Unknown members of an object stay clear: mark the object itself when they may be
personal (e.g. `extra`). Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal, TypeAlias

from bridge.errors import ConfigError
from bridge.types import JSONObject, JSONValue

__all__ = ["PII_MARK", "PiiTree", "merge", "pii_tree", "split"]

PII_MARK = "x-kyc-pii"
PiiTree: TypeAlias = "Mapping[str, PiiTree | Literal[True]]"
_Facet = tuple[JSONObject, str]  # a schema object and the $id of its document
_COMBINATORS = ("allOf", "anyOf", "oneOf")


class _Walker:
    def __init__(self, documents: Iterable[JSONObject]) -> None:
        self._documents = {str(d.get("$id")): d for d in documents}

    def resolve(self, ref: str, base: str) -> _Facet:
        uri, _, fragment = ref.partition("#")
        document = self._documents.get(uri or base)
        if document is None:
            raise ConfigError(f"PII paths: $ref {ref!r} names an unknown schema document")
        node: JSONValue = document
        for escaped in filter(None, fragment.split("/")):
            token = escaped.replace("~1", "/").replace("~0", "~")
            node = node.get(token) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            raise ConfigError(f"PII paths: $ref {ref!r} does not point at a schema object")
        return node, uri or base

    def facets(
        self, schema: JSONValue, base: str, chain: frozenset[int] = frozenset()
    ) -> list[_Facet]:
        """Return `schema` and every schema object its $ref and combinators reach."""
        if not isinstance(schema, dict) or id(schema) in chain:
            return []
        chain = chain | {id(schema)}
        found: list[_Facet] = [(schema, base)]
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target, target_base = self.resolve(ref, base)
            found += self.facets(target, target_base, chain)
        for keyword in _COMBINATORS:
            for member in _as_list(schema.get(keyword)):
                found += self.facets(member, base, chain)
        return found

    def children(self, facets: list[_Facet]) -> tuple[dict[str, list[_Facet]], list[_Facet]]:
        """Return the facets of each property, and of the array items, that `facets` describe."""
        names: dict[str, list[_Facet]] = {}
        items: list[_Facet] = []
        for schema, base in facets:
            properties = schema.get("properties")
            for name, sub in properties.items() if isinstance(properties, dict) else ():
                names.setdefault(name, []).extend(self.facets(sub, base))
            items += self.facets(schema.get("items"), base)
        return names, items

    def reaches_mark(self, facets: list[_Facet], seen: set[int]) -> bool:
        """Whether any schema under `facets` (properties, items, at any depth) is marked."""
        fresh = [(schema, base) for schema, base in facets if id(schema) not in seen]
        seen.update(id(schema) for schema, _ in fresh)
        if _marked(fresh):
            return True
        names, items = self.children(fresh)
        return any(self.reaches_mark(sub, seen) for sub in [*names.values(), items])

    def tree(self, facets: list[_Facet], path: frozenset[int]) -> PiiTree:
        """Return the PII tree of the object that `facets` describe; `path` = its ancestors."""
        names, _ = self.children(facets)
        tree: dict[str, PiiTree | Literal[True]] = {}
        for name, sub_facets in names.items():
            _, items = self.children(sub_facets)
            nested = {id(schema) for schema, _ in [*sub_facets, *items]}
            if _marked(sub_facets) or _marked(items):
                tree[name] = True
            elif nested & path:  # a recursive schema: personal as a whole if marked inside
                if self.reaches_mark([*sub_facets, *items], set()):
                    tree[name] = True
            elif self.tree(items, path | nested):
                tree[name] = True
            elif subtree := self.tree(sub_facets, path | nested):
                tree[name] = subtree
        return tree


def _as_list(value: JSONValue) -> list[JSONValue]:
    return value if isinstance(value, list) else []


def _marked(facets: list[_Facet]) -> bool:
    return any(schema.get(PII_MARK) is True for schema, _ in facets)


def pii_tree(documents: Iterable[JSONObject], schema_id: str) -> PiiTree:
    """
    Return the PII tree of `data` in events of the schema whose `$id` is `schema_id`.

    Raises:
        ConfigError: `schema_id` or a `$ref` names no given document, or `data`
            itself is marked (mark its properties instead).
    """
    walker = _Walker(documents)
    root, base = walker.resolve(schema_id, schema_id)
    data = [
        facet
        for schema, schema_base in walker.facets(root, base)
        for facet in walker.facets(_get(schema.get("properties"), "data"), schema_base)
    ]
    if _marked(data):
        raise ConfigError(f"PII paths: {schema_id} marks data as a whole; mark its properties")
    return walker.tree(data, frozenset(id(schema) for schema, _ in data))


def _get(mapping: JSONValue, key: str) -> JSONValue:
    return mapping.get(key) if isinstance(mapping, dict) else None


def split(data: JSONObject, tree: PiiTree) -> tuple[JSONObject, JSONObject]:
    """
    Return `(clear, personal)`: `data` without its personal values, and those values
    at their paths. Objects on a path stay in `clear` (possibly empty).
    """
    clear: JSONObject = {}
    personal: JSONObject = {}
    for key, value in data.items():
        node = tree.get(key)
        if node is None:
            clear[key] = value
        elif node is True or not isinstance(value, dict):
            personal[key] = value
        else:
            clear[key], inner = split(value, node)
            if inner:
                personal[key] = inner
    return clear, personal


def merge(clear: JSONObject, personal: JSONObject) -> JSONObject:
    """Return `clear` with `personal` put back at its paths: `merge(*split(d, t)) == d`."""
    merged = dict(clear)
    for key, value in personal.items():
        base = merged.get(key)
        if isinstance(value, dict) and isinstance(base, dict):
            merged[key] = merge(base, value)
        else:
            merged[key] = value
    return merged
