"""The shipped framework library: counts, ids, roles and dates; every mapping and crosswalk points at
something that exists; and a broken file is refused with its file and line."""

from __future__ import annotations

import re
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from compliance.loader import LibraryError, build_library, framework_dir, load_library, read_files
from governance.policy.loader import load_policy_file

NIST_CATEGORIES = {"GOVERN": [7, 3, 2, 3, 2, 2], "MAP": [6, 3, 5, 2, 2], "MEASURE": [3, 13, 3, 3], "MANAGE": [4, 4, 2, 3]}
ISO_ANNEX_A = (
    ["A.2.2", "A.2.3", "A.2.4", "A.3.2", "A.3.3", "A.4.2", "A.4.3", "A.4.4", "A.4.5", "A.4.6",
     "A.5.2", "A.5.3", "A.5.4", "A.5.5", "A.6.1.2", "A.6.1.3"]
    + [f"A.6.2.{n}" for n in range(2, 9)]
    + [f"A.7.{n}" for n in range(2, 7)] + [f"A.8.{n}" for n in range(2, 6)]
    + ["A.9.2", "A.9.3", "A.9.4", "A.10.2", "A.10.3", "A.10.4"]
)
EU_ARTICLES = [4, 5, 9, 10, 11, 12, 13, 14, 15, 16, 17, 26, 27, 43, 49, 50, 53, 55, 72, 73]


@pytest.fixture(scope="module")
def library():
    policy = load_policy_file()
    return load_library(policies=lambda: {policy.name: frozenset(r.id for r in policy.requirements)})


def test_nist_ai_rmf_has_every_subcategory_by_id(library):
    nist = library.frameworks["nist-ai-rmf"]
    expected = [f"{fn} {cat}.{n}" for fn, sizes in NIST_CATEGORIES.items()
                for cat, size in enumerate(sizes, start=1) for n in range(1, size + 1)]
    assert len(expected) == 72
    assert [c.id for c in nist.controls] == expected
    assert {f.function for f in nist.families} == {"GOVERN", "MAP", "MEASURE", "MANAGE"}
    assert len(nist.families) == 19
    for control in nist.controls:  # each subcategory sits in the category its id names
        fn, number = control.id.split(" ")
        assert control.family == f"{fn}-{number.split('.')[0]}"


def test_iso_42001_has_all_annex_a_controls(library):
    iso = library.frameworks["iso-42001"]
    assert [c.id for c in iso.controls] == ISO_ANNEX_A
    assert len(ISO_ANNEX_A) == 38
    assert [f.id for f in iso.families] == [f"A.{n}" for n in range(2, 11)]


def test_eu_ai_act_lists_the_articles_with_roles_and_dates(library):
    eu = library.frameworks["eu-ai-act"]
    refs = {c.ref for c in eu.controls}
    assert {f"Art. {n}" for n in EU_ARTICLES} <= refs
    roles = {role for c in eu.controls for role in (c.applies.roles or ())}
    assert roles == {"provider", "deployer", "importer", "distributor"}
    for control in eu.controls:
        assert control.applies.roles, control.id
        assert control.applies_from is not None and "2024/1689" in control.date_source, control.id
    dates = {c.ref: c.applies_from for c in eu.controls}
    assert dates["Art. 4"] == dates["Art. 5"] == date(2025, 2, 2)
    assert dates["Art. 53"] == dates["Art. 55"] == date(2025, 8, 2)
    assert dates["Art. 9"] == dates["Art. 26"] == dates["Art. 50"] == date(2026, 8, 2)
    assert "2027-08-02" in next(c.date_source for c in eu.controls if c.ref == "Art. 9")


def test_every_file_says_its_source_and_licence():
    for path, raw in read_files():
        head = raw.decode().split("\napiVersion:")[0].lower()
        assert "source" in head and ("licen" in head), path


def test_every_mapping_and_crosswalk_points_at_something_that_exists(library):
    policy = load_policy_file()
    requirement_ids = {r.id for r in policy.requirements}
    assert library.mappings[policy.name], "the default policy has mappings"
    for entries in library.mappings.values():
        for key, mapping in entries.items():
            assert library.control(key) is not None, key
            assert set(mapping.requirements) <= requirement_ids, key
    for link in library.crosswalks:
        for key in link.controls:
            assert library.control(key) is not None, key
    # Crosswalks make links visible from each side.
    assert "eu-ai-act/art-11" in library.related("iso-42001/A.6.2.7")


def test_framework_lint_command_passes_on_the_shipped_library():
    out = StringIO()
    call_command("framework_lint", stdout=out)
    assert "4 frameworks, 144 controls" in out.getvalue()


def _copy_library(tmp_path: Path) -> Path:
    target = tmp_path / "frameworks"
    for path, raw in read_files():
        dest = target / path.relative_to(framework_dir())
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(raw)
    return target


def _lint_errors(directory: Path) -> list[str]:
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("framework_lint", str(directory), stderr=err, stdout=StringIO())
    return err.getvalue().splitlines()


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def test_duplicate_control_id_is_an_error_with_file_and_line(tmp_path):
    directory = _copy_library(tmp_path)
    iso = directory / "iso-42001.yaml"
    iso.write_text(iso.read_text().replace("{id: A.2.3,", "{id: A.2.2,"))
    errors = _lint_errors(directory)
    second, first = _line_of(iso, '"Fit with other policies"'), _line_of(iso, '"AI policy", summary')
    assert errors == [f"{iso}:{second}: duplicate control id 'A.2.2' (first at line {first})"]


def test_mapping_to_an_unknown_requirement_is_an_error(tmp_path):
    directory = _copy_library(tmp_path)
    mapping = directory / "mappings" / "default.yaml"
    mapping.write_text(mapping.read_text().replace("eu-ai-act/art-11, requirements: [model-card-published]",
                                                   "eu-ai-act/art-11, requirements: [model-card-publishd]"))
    errors = _lint_errors(directory)
    assert errors == [f"{mapping}:{_line_of(mapping, 'model-card-publishd')}: control eu-ai-act/art-11: unknown "
                      f"requirement 'model-card-publishd' in policy default"]


def test_unknown_control_in_a_mapping_and_a_crosswalk_are_errors(tmp_path):
    directory = _copy_library(tmp_path)
    mapping = directory / "mappings" / "default.yaml"
    mapping.write_text(mapping.read_text().replace("nist-ai-rmf/MAP 1.1,", "nist-ai-rmf/MAP 1.9,"))
    cross = directory / "crosswalks.yaml"
    cross.write_text(cross.read_text().replace("eu-ai-act/art-12]", "eu-ai-act/art-99]"))
    errors = _lint_errors(directory)
    assert f"{mapping}:{_line_of(mapping, 'MAP 1.9')}: unknown control 'nist-ai-rmf/MAP 1.9' (no framework file defines it)" in errors
    assert f"{cross}:{_line_of(cross, 'art-99')}: unknown control 'eu-ai-act/art-99' (no framework file defines it)" in errors
    assert len(errors) == 2


def test_schema_error_names_the_field_and_line(tmp_path):
    directory = _copy_library(tmp_path)
    eu = directory / "eu-ai-act.yaml"
    eu.write_text(eu.read_text().replace("applies: {roles: [importer], tiers: [high]}",
                                         "applies: {roles: [importr], tiers: [high]}"))
    errors = _lint_errors(directory)
    assert len(errors) == 1
    assert re.fullmatch(rf"{re.escape(str(eu))}:{_line_of(eu, 'importr')}: schema error at controls/\d+/applies/roles/0: "
                        r"'importr' is not one of .*", errors[0])


def test_broken_yaml_and_hostile_yaml_are_refused_with_a_line(tmp_path):
    directory = _copy_library(tmp_path)
    (directory / "broken.yaml").write_text("apiVersion: clearance/v1\nkind: Crosswalk\nlinks: [\n")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(6))
    (directory / "bomb.yaml").write_text(bomb)
    errors = _lint_errors(directory)
    assert any(e.startswith(f"{directory / 'broken.yaml'}:") and "not valid YAML" in e for e in errors)
    assert any(e.startswith(f"{directory / 'bomb.yaml'}") and "more than" in e for e in errors)


def test_a_library_with_a_problem_is_refused_whole(tmp_path):
    directory = _copy_library(tmp_path)
    iso = directory / "iso-42001.yaml"
    iso.write_text(iso.read_text().replace("family: A.10,", "family: A.11,", 1))
    with pytest.raises(LibraryError) as caught:
        build_library(read_files(directory))
    assert [str(e.path) for e in caught.value.errors] == [str(iso)]
    assert "unknown family 'A.11'" in caught.value.lines()[0]
