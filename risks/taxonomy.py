"""The shipped AI risk taxonomy (``risks/taxonomy.yaml``): domains and subdomains a risk's category is
chosen from, read once through the bounded YAML reader and checked for shape."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from clearance.untrusted import load_yaml

TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")
_DOMAIN_ID = re.compile(r"^[1-9][0-9]*$")


class TaxonomyError(ValueError):
    """The taxonomy file is malformed; the message says where."""


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    description: str
    domain_id: str
    domain_name: str

    @property
    def label(self) -> str:
        return f"{self.id} {self.name}"


@dataclass(frozen=True)
class Domain:
    id: str
    name: str
    description: str
    subdomains: tuple[Category, ...]


@dataclass(frozen=True)
class Taxonomy:
    source: dict[str, str]
    domains: tuple[Domain, ...]

    @property
    def categories(self) -> dict[str, Category]:
        return {c.id: c for d in self.domains for c in d.subdomains}

    def choices(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Grouped choices for a select: one group per domain."""
        return [(f"{d.id} {d.name}", [(c.id, c.label) for c in d.subdomains]) for d in self.domains]


def _text(node: dict[str, Any], key: str, where: str) -> str:
    value = node.get(key)
    if not isinstance(value, str) or not value.strip():
        raise TaxonomyError(f"{where}: '{key}' must be a non-empty string")
    return value.strip()


def parse_taxonomy(text: str) -> Taxonomy:
    data = load_yaml(text)
    if not isinstance(data, dict) or not isinstance(data.get("domains"), list):
        raise TaxonomyError("the taxonomy must be a mapping with a 'domains' list")
    source = data.get("source")
    if not isinstance(source, dict) or not all(
        isinstance(source.get(k), str) for k in ("name", "url", "licence")
    ):
        raise TaxonomyError("'source' must name the source, its url and its licence")
    domains: list[Domain] = []
    seen: set[str] = set()
    for i, node in enumerate(data["domains"]):
        where = f"domains[{i}]"
        if not isinstance(node, dict):
            raise TaxonomyError(f"{where}: must be a mapping")
        domain_id = _text(node, "id", where)
        if not _DOMAIN_ID.match(domain_id) or domain_id in seen:
            raise TaxonomyError(f"{where}: id {domain_id!r} must be a whole number used once")
        seen.add(domain_id)
        name = _text(node, "name", where)
        subs: list[Category] = []
        if not isinstance(node.get("subdomains"), list) or not node["subdomains"]:
            raise TaxonomyError(f"{where}: 'subdomains' must be a non-empty list")
        for j, sub in enumerate(node["subdomains"]):
            sub_where = f"{where}.subdomains[{j}]"
            if not isinstance(sub, dict):
                raise TaxonomyError(f"{sub_where}: must be a mapping")
            sub_id = _text(sub, "id", sub_where)
            if not re.fullmatch(rf"{re.escape(domain_id)}\.[1-9][0-9]*", sub_id) or sub_id in seen:
                raise TaxonomyError(f"{sub_where}: id {sub_id!r} must be {domain_id}.<n> and used once")
            seen.add(sub_id)
            subs.append(
                Category(
                    sub_id,
                    _text(sub, "name", sub_where),
                    _text(sub, "description", sub_where),
                    domain_id,
                    name,
                )
            )
        domains.append(Domain(domain_id, name, _text(node, "description", where), tuple(subs)))
    return Taxonomy({k: str(v) for k, v in source.items()}, tuple(domains))


@cache
def taxonomy() -> Taxonomy:
    return parse_taxonomy(TAXONOMY_PATH.read_text(encoding="utf-8"))


def category(category_id: str) -> Category | None:
    return taxonomy().categories.get(category_id)
