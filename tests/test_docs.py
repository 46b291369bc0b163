"""The README's table reference is the schema in code, and it documents every reason code."""
from __future__ import annotations

import re

from gtlake.records import REASONS
from gtlake.schemas import markdown
from tests.conftest import REPO


def test_readme_tables_match_the_schemas():
    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- tables:begin -->")[1].split("<!-- tables:end -->")[0]
    assert section.strip() == markdown().strip(), "run: python -m gtlake.schemas, and paste into README.md"


def test_readme_lists_every_reason_code_under_its_kind():
    readme = (REPO / "README.md").read_text()
    table = readme.split("### Reason codes")[1].split("\n## ")[0]
    rows = {m.group(1): set(re.findall(r"`([a-z_0-9]+)`", m.group(2)))
            for m in re.finditer(r"^\| `([a-z_]+)` \|(.*)\|$", table, re.M)}
    assert {k: set(v) for k, v in REASONS.items()} == rows


def test_readme_explains_every_quality_reason_and_setting():
    from dataclasses import fields

    from gtlake.udfs.config import QualityConfig
    from gtlake.vocabulary import REASON_WEIGHTS

    section = (REPO / "README.md").read_text().split("## Label quality")[1].split("\n## ")[0]
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    assert rows == set(REASON_WEIGHTS)
    settings = section.split("**Settings.**")[1].split("**Accuracy.**")[0]
    assert {f.name for f in fields(QualityConfig)} == set(re.findall(r"`([a-z_]+)`", settings))


def test_readme_lists_every_view():
    from gtlake.lakesql import markdown as views_markdown

    readme = (REPO / "README.md").read_text()
    section = readme.split("<!-- views:begin -->")[1].split("<!-- views:end -->")[0]
    assert section.strip() == views_markdown().strip(), "run: python -c 'from gtlake.lakesql import markdown; print(markdown())'"
