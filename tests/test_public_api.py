"""Every module's ``__all__``: a literal, sorted list of names that the module really has.

Sorted as ruff's RUF022 sorts (isort's order): CONSTANTS, then Classes, then everything else, each group in
natural order; `ruff check --fix --select RUF022` puts a list in this order.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "loadkit"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _isort_key(name: str) -> tuple[int, list[int | str]]:
    group = 0 if len(name) > 1 and name.isupper() else 1 if name[:1].isupper() else 2
    natural: list[int | str] = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
    return group, natural


def _declared_all() -> dict[str, ast.expr]:
    """Module name -> the value assigned to ``__all__`` at its top level, for every module that has one."""
    found: dict[str, ast.expr] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                    for t in node.targets):
                found[_module_name(path)] = node.value
    return found


DECLARED = _declared_all()


def test_the_package_faces_declare_all() -> None:
    faces = {"loadkit", "loadkit.analysis", "loadkit.demo", "loadkit.report", "loadkit.run", "loadkit.scenario",
             "loadkit.verdict"}
    assert faces <= set(DECLARED), faces - set(DECLARED)


@pytest.mark.parametrize("module", sorted(DECLARED))
def test_all_is_a_sorted_literal_list_of_strings(module: str) -> None:
    value = DECLARED[module]
    assert isinstance(value, ast.List), f"{module}.__all__ is not a literal list"
    names = [item.value for item in value.elts if isinstance(item, ast.Constant) and isinstance(item.value, str)]
    assert len(names) == len(value.elts), f"{module}.__all__ holds something other than string literals"
    assert names == sorted(names, key=_isort_key), f"{module}.__all__ is not sorted: {sorted(names, key=_isort_key)}"
    assert len(set(names)) == len(names), f"{module}.__all__ names something twice"


def test_every_name_in_all_resolves() -> None:
    # A fresh interpreter: the run stage's modules import locust, which monkey-patches this process.
    code = ("import importlib, json, sys\n"
            "missing = {}\n"
            "for name in json.loads(sys.argv[1]):\n"
            "    module = importlib.import_module(name)\n"
            "    absent = [n for n in module.__all__ if not hasattr(module, n)]\n"
            "    if absent:\n"
            "        missing[name] = absent\n"
            "print(json.dumps(missing))\n")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(sorted(DECLARED))], capture_output=True,
                         text=True, check=True, cwd=ROOT, timeout=120)
    assert json.loads(out.stdout.splitlines()[-1]) == {}
