"""OSCAL catalogs in and out: any framework of the library as an OSCAL catalog (JSON), and an OSCAL
catalog as an organisation's framework file.

Both directions are validated with compliance-trestle's pydantic models of NIST's OSCAL schema
(``trestle.oscal.catalog.Catalog``), so we write no OSCAL model of our own. Export fills an OSCAL
group per family and a control per control (the summary as its statement part); what OSCAL has no
field for (the operator roles and tiers a control binds, its date of application and the act the date
comes from) travels as properties in our own namespace, so an export imports back to the same
controls. Import flattens nested groups and control enhancements into families and controls.

Import is pure: it returns the framework file's text, which ``compliance.services.framework_import``
checks against the whole library and writes in one step. Every refusal names the JSON path.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from pydantic import ValidationError
from trestle.common.err import TrestleError
from trestle.oscal import OSCAL_VERSION
from trestle.oscal.catalog import Catalog

from clearance.untrusted import UntrustedInputError, load_json
from compliance.loader import Control, Framework

# Our namespace for what OSCAL has no field for; an OSCAL property namespace must be a URI.
NS = "https://clearance.invalid/ns/oscal"
MAX_OSCAL_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 64
MAX_CONTROLS = 5000
MAX_TEXT = 400  # a title or summary in a framework file (compliance.loader)

# OSCAL's token: what an id must look like (trestle checks the same; we test it to choose an id).
_TOKEN = re.compile(r"^[_A-Za-z][_A-Za-z0-9\-.]*$")
_FRAMEWORK_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_OUR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")


class OscalError(ValueError):
    """An OSCAL document we refuse, with the JSON path of the first problem."""

    def __init__(self, path: str, message: str) -> None:
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}" if path else message)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _prop(name: str, value: str) -> dict[str, str]:
    return {"name": name, "ns": NS, "value": _one_line(value)}


def _token(value: str, prefix: str) -> str:
    """An OSCAL id for one of ours: the same when it is a token, else a token built from it (the
    original travels in the ``id`` property)."""
    if _TOKEN.match(value):
        return value
    return prefix + re.sub(r"[^_A-Za-z0-9\-.]", "_", value)


def _control_dict(control: Control) -> dict[str, Any]:
    props = [_prop("id", control.id)]
    if control.ref:
        props.append({"name": "label", "value": _one_line(control.ref)})
    rule = control.applies
    for name, values in (("roles", rule.roles), ("tiers", rule.tiers), ("gpai", rule.gpai)):
        if values is not None:
            props.append(_prop(name, " ".join(values)))
    if rule.generative is not None:
        props.append(_prop("generative", "true" if rule.generative else "false"))
    if control.applies_from is not None:
        props.append(_prop("applies-from", control.applies_from.isoformat()))
    if control.date_source:
        props.append(_prop("date-source", control.date_source))
    if control.condition_note:
        props.append(_prop("condition-note", control.condition_note))
    token = _token(control.id, "c-")
    return {"id": token, "title": _one_line(control.title), "props": props,
            "parts": [{"id": f"{token}_smt", "name": "statement", "prose": control.summary}]}


def export_catalog(framework: Framework, now: datetime) -> Catalog:
    """The framework as an OSCAL catalog, validated by trestle's model (raises if it would not be)."""
    groups = []
    for family in framework.families:
        group: dict[str, Any] = {"id": _token(family.id, "g-"), "title": _one_line(family.title),
                                 "props": [_prop("id", family.id)]}
        if family.function:
            group["props"].append(_prop("function", family.function))
        controls = [_control_dict(c) for c in framework.controls if c.family == family.id]
        if controls:
            group["controls"] = controls
        groups.append(group)
    document = {
        # The same framework file always exports under the same identifier.
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{NS}/{framework.id}/{framework.digest}")),
        "metadata": {
            "title": _one_line(framework.name),
            "last-modified": now.isoformat(),
            "version": _one_line(framework.version),
            "oscal-version": OSCAL_VERSION,
            "props": [_prop("framework-id", framework.id), _prop("licence", framework.licence)],
            "links": [{"href": framework.source_url, "rel": "reference", "text": _one_line(framework.source_title)}],
            "remarks": f"{framework.source_note}\n\nLicence: {framework.licence}",
        },
        "groups": groups,
    }
    return Catalog.model_validate(document)


def export_json(framework: Framework, now: datetime) -> str:
    return export_catalog(framework, now).oscal_serialize_json(pretty=True, wrapped=True)


# --- import ---------------------------------------------------------------------------------------

def _json_path(loc: tuple[int | str, ...]) -> str:
    path = "catalog"
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("Group1", "Group2") or part.startswith(("function-", "union")):
            continue  # pydantic names the union branch it tried; not part of the document's path
        else:
            path += f".{part}"
    return path


@dataclass
class _Collected:
    families: list[dict[str, Any]]
    controls: list[dict[str, Any]]
    seen: dict[str, str]  # id -> JSON path where first seen


def _ours(props: list[dict[str, Any]] | None) -> dict[str, str]:
    return {p["name"]: p["value"] for p in props or [] if p.get("ns") == NS}


def _label(props: list[dict[str, Any]] | None) -> str:
    return next((p["value"] for p in props or [] if p.get("name") == "label" and not p.get("ns")), "")


def _prose(parts: list[dict[str, Any]] | None) -> str:
    """The statement's text: its prose and its items', in order."""
    found: list[str] = []

    def walk(items: list[dict[str, Any]] | None) -> None:
        for part in items or []:
            if part.get("prose"):
                found.append(part["prose"])
            walk(part.get("parts"))

    walk([p for p in parts or [] if p.get("name") == "statement"])
    return "\n\n".join(found)


def _fit(text: str, path: str, what: str, cut: bool) -> str:
    text = text.strip()
    if len(text) <= MAX_TEXT:
        return text
    if not cut:
        raise OscalError(path, f"the {what} has {len(text)} characters; at most {MAX_TEXT}")
    # A summary may be shortened (the full statement stays in the source); at a word where one is near.
    head = text[:MAX_TEXT - 1]
    space = head.rfind(" ")
    return (head[:space] if space > MAX_TEXT - 80 else head).rstrip() + "…"


def _id_of(node: dict[str, Any], path: str, collected: _Collected, what: str) -> str:
    ours = _ours(node.get("props")).get("id")
    value = ours or node["id"]
    if not _OUR_ID.match(value) or len(value) > 60:
        raise OscalError(f"{path}.id", f"{what} id {value!r} is not one a framework file can hold "
                                       "(letters, digits, space, '.', '_', '-'; at most 60 characters)")
    key = f"{what}:{value}"
    if key in collected.seen:
        raise OscalError(f"{path}.id", f"duplicate {what} id {value!r} (first at {collected.seen[key]})")
    collected.seen[key] = f"{path}.id"
    return value


def _control(node: dict[str, Any], path: str, family: str, collected: _Collected) -> None:
    if len(collected.controls) >= MAX_CONTROLS:
        raise OscalError(path, f"more than {MAX_CONTROLS} controls; split the catalog")
    control_id = _id_of(node, path, collected, "control")
    ours = _ours(node.get("props"))
    spec: dict[str, Any] = {"id": control_id, "family": family,
                            "title": _fit(node["title"], f"{path}.title", "title", cut=False),
                            "summary": _fit(_one_line(_prose(node.get("parts"))) or node["title"], f"{path}.parts",
                                            "summary", cut=True)}
    label = _label(node.get("props"))
    if label:
        spec["ref"] = _fit(label, f"{path}.props", "label", cut=False)
    applies: dict[str, Any] = {}
    for name in ("roles", "tiers", "gpai"):
        if name in ours:
            applies[name] = ours[name].split()
    if "generative" in ours:
        applies["generative"] = ours["generative"] == "true"
    if applies:
        spec["applies"] = applies
    for name, key in (("applies-from", "applies_from"), ("date-source", "date_source"),
                      ("condition-note", "condition_note")):
        if name in ours:
            spec[key] = ours[name]
    collected.controls.append(spec)
    for index, child in enumerate(node.get("controls") or []):
        # Enhancements of a control become controls of the same family.
        _control(child, f"{path}.controls[{index}]", family, collected)


def _group(node: dict[str, Any], path: str, collected: _Collected) -> None:
    family_id = _id_of(node, path, collected, "group")
    ours = _ours(node.get("props"))
    family: dict[str, Any] = {"id": family_id, "title": _fit(node["title"], f"{path}.title", "title", cut=False)}
    if "function" in ours:
        family["function"] = ours["function"]
    if node.get("controls"):
        collected.families.append(family)
        for index, child in enumerate(node["controls"]):
            _control(child, f"{path}.controls[{index}]", family_id, collected)
    for index, child in enumerate(node.get("groups") or []):
        _group(child, f"{path}.groups[{index}]", collected)


def parse_catalog(raw: bytes) -> dict[str, Any]:
    """The catalog of an OSCAL JSON document as plain data, once trestle's model accepts it."""
    if len(raw) > MAX_OSCAL_BYTES:
        raise OscalError("", f"the file has {len(raw):,} bytes; at most {MAX_OSCAL_BYTES:,}")
    try:
        document = load_json(raw, max_depth=MAX_DEPTH)
    except UntrustedInputError as exc:
        raise OscalError("", f"not JSON we can read: {exc.message}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("catalog"), dict):
        raise OscalError("(top level)", "an OSCAL catalog is an object with a `catalog` object")
    extra = sorted(set(document) - {"catalog", "$schema"})
    if extra:
        raise OscalError("(top level)", f"unexpected key(s) {', '.join(extra)} beside `catalog`")
    try:
        model = Catalog.model_validate(document["catalog"])
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise OscalError(_json_path(tuple(first["loc"])), f"{first['msg']}{more}") from exc
    except TrestleError as exc:  # trestle's own answer when the OSCAL version is missing or unsupported
        raise OscalError("catalog.metadata.oscal-version", str(exc)) from exc
    plain: dict[str, Any] = model.oscal_dict()["catalog"]
    return plain


def catalog_to_framework(raw: bytes, *, framework_id: str, licence: str, source_url: str,
                         source_note: str = "") -> str:
    """The text of a framework file (``kind: Framework``) for an OSCAL catalog; raises OscalError."""
    if not _FRAMEWORK_ID.match(framework_id) or len(framework_id) > 40:
        raise OscalError("", "Framework id: lower-case letters, digits and '-', at most 40 characters")
    if not source_url.startswith("https://"):
        raise OscalError("", "Source link: an https:// address where the catalog comes from")
    licence = _one_line(licence)
    if not licence:
        raise OscalError("", "Licence: say under which licence the catalog may be used")
    catalog = parse_catalog(raw)
    collected = _Collected([], [], {})
    loose = catalog.get("controls") or []
    if loose:
        collected.families.append({"id": "ungrouped", "title": "Controls outside any group"})
        collected.seen["group:ungrouped"] = "catalog"
        for index, node in enumerate(loose):
            _control(node, f"catalog.controls[{index}]", "ungrouped", collected)
    for index, node in enumerate(catalog.get("groups") or []):
        _group(node, f"catalog.groups[{index}]", collected)
    if not collected.controls:
        raise OscalError("catalog", "the catalog has no control")
    metadata = catalog["metadata"]
    document = {
        "apiVersion": "clearance/v1",
        "kind": "Framework",
        "id": framework_id,
        "name": _fit(_one_line(metadata["title"]), "catalog.metadata.title", "title", cut=True),
        "version": _fit(_one_line(metadata["version"]), "catalog.metadata.version", "version", cut=False),
        "source": {"title": _fit(_one_line(metadata["title"]), "catalog.metadata.title", "title", cut=True),
                   "url": source_url,
                   "note": _fit(_one_line(source_note) or f"Imported from the OSCAL catalog {catalog['uuid']}.",
                                "", "source note", cut=True)},
        "licence": _fit(licence, "", "licence", cut=False),
        "families": collected.families,
        "controls": collected.controls,
    }
    header = (f"# Imported from an OSCAL catalog ({catalog['uuid']}, OSCAL {metadata['oscal-version']}).\n"
              f"# Source: {source_url}\n# Licence: {licence}\n")
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
