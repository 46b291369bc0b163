"""The folders import in layers that only point down (README: Development), and the package mapping is stated once."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gtlake.packages import PACKAGE_DIR

REPO = Path(__file__).resolve().parent.parent

# Each folder of source, bottom up, and the folders it may import from.
LAYERS = {
    "gtlake": set(),  # the core: schemas, vocabularies, records, the lake, integrity, SQL, dashboards
    "udfs": {"gtlake"},  # kernels: numpy/pandas/torch on plain arrays, and the core's vocabularies only
    "jobs": {"gtlake", "udfs"},  # Spark jobs, the step runner
    "gtlake/sample": {"gtlake", "udfs"},  # the sample generator and its scoring
    "gtlake/cli": {"gtlake", "udfs", "jobs", "gtlake/sample"},  # the command
    "glue": {"gtlake/cli"},  # Glue entry scripts
}
CORE_FOR_KERNELS = {"gtlake.vocabulary"}  # what of the core a kernel may import: no I/O


def _folder_of(module: str) -> str | None:
    """The source folder a `gtlake...` module lives in (by the package mapping), None for other modules."""
    if module != "gtlake" and not module.startswith("gtlake."):
        return None
    best = max((p for p in PACKAGE_DIR if module == p or module.startswith(p + ".")), key=len)
    return PACKAGE_DIR[best]


def _imports() -> list[tuple[str, str, str]]:
    """(folder, imported module, where) of every gtlake import in the source, module level or inside functions."""
    out = []
    for folder in LAYERS:
        for path in sorted((REPO / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    if _folder_of(name) is not None:
                        out.append((folder, name, f"{path.relative_to(REPO)}:{node.lineno}"))
    return out


def test_every_import_points_down_a_layer():
    wrong = [(where, name) for folder, name, where in _imports()
             if _folder_of(name) != folder and _folder_of(name) not in LAYERS[folder]]
    assert not wrong


def test_the_folder_graph_has_no_cycle():
    edges: dict[str, set[str]] = {f: set() for f in LAYERS}
    for folder, name, _ in _imports():
        if _folder_of(name) != folder:
            edges[folder].add(_folder_of(name))
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 1:
            pytest.fail(f"import cycle: {' -> '.join(path + [node])}")
        if state.get(node) == 2:
            return
        state[node] = 1
        for nxt in sorted(edges[node]):
            visit(nxt, path + [node])
        state[node] = 2

    for f in edges:
        visit(f, [])


def test_kernels_import_nothing_of_the_lake():
    core = {name for folder, name, _ in _imports() if folder == "udfs" and _folder_of(name) == "gtlake"}
    assert core <= CORE_FOR_KERNELS


def test_the_layer_rule_itself_can_fail():
    assert _folder_of("gtlake.jobs.quality") == "jobs" and _folder_of("gtlake.cli.steps") == "gtlake/cli"
    assert "jobs" not in LAYERS["udfs"] and "gtlake/cli" not in LAYERS["jobs"]


def test_package_mapping_is_stated_once_and_matches_the_folders():
    setup = (REPO / "setup.py").read_text(encoding="utf-8")
    deploy = (REPO / "gtlake" / "deploy.py").read_text(encoding="utf-8")
    assert "PACKAGE_DIR" in setup and '"jobs"' not in setup and '"udfs"' not in setup
    assert '"jobs"' not in deploy and '"udfs"' not in deploy
    for package, folder in PACKAGE_DIR.items():
        assert (REPO / folder / "__init__.py").is_file(), package
