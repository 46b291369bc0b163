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
    table = readme.split("### Reason codes")[1].split("## The lake")[0]
    rows = {m.group(1): set(re.findall(r"`([a-z_0-9]+)`", m.group(2)))
            for m in re.finditer(r"^\| `([a-z_]+)` \|(.*)\|$", table, re.M)}
    assert {k: set(v) for k, v in REASONS.items()} == rows
