"""The shipped taxonomy: the MIT AI Risk Repository's 7 domains and 24 subdomains, credited."""

from __future__ import annotations

import pytest

from risks.taxonomy import TaxonomyError, parse_taxonomy, taxonomy


def test_shipped_taxonomy_has_seven_domains_and_twenty_four_subdomains() -> None:
    tax = taxonomy()
    assert [d.id for d in tax.domains] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [len(d.subdomains) for d in tax.domains] == [3, 2, 2, 3, 2, 6, 6]
    assert len(tax.categories) == 24
    assert tax.categories["7.6"].name == "Multi-agent risks"
    assert tax.categories["2.2"].domain_name == "Privacy & Security"


def test_shipped_taxonomy_is_credited_with_its_licence() -> None:
    source = taxonomy().source
    assert source["licence"] == "CC BY 4.0"
    assert "airisk.mit.edu" in source["url"]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("domains: []", "source"),
        (
            "source: {name: a, url: b, licence: c}\ndomains: [{id: '1', name: A, description: d, subdomains: []}]",
            "domains[0]: 'subdomains'",
        ),
        (
            "source: {name: a, url: b, licence: c}\ndomains: [{id: '1', name: A, description: d, subdomains: "
            "[{id: '2.1', name: B, description: e}]}]",
            "domains[0].subdomains[0]: id '2.1'",
        ),
        (
            "source: {name: a, url: b, licence: c}\ndomains: [{id: '1', name: A, description: d, subdomains: "
            "[{id: '1.1', name: B, description: ''}]}]",
            "'description'",
        ),
    ],
)
def test_malformed_taxonomy_is_refused_saying_where(text: str, where: str) -> None:
    with pytest.raises(
        TaxonomyError, match=where.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")
    ):
        parse_taxonomy(text)
