"""The package's layout rules, read from its import statements.

* ``data/`` and ``models/`` import nothing from ``run/`` or ``report/``;
* ``report/`` imports nothing from ``run/``;
* the leaf modules (``errors``, ``rundir``) import nothing of rnnlab;
* matplotlib is imported in ``report/`` only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rnnlab"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module == "rnnlab":
            found |= {f"rnnlab.{alias.name}" for alias in node.names}  # from rnnlab import x
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def modules_under(part: str) -> list[Path]:
    root = PACKAGE / part
    return sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]


FORBIDDEN = {
    "data": ("rnnlab.run", "rnnlab.report"),
    "models": ("rnnlab.run", "rnnlab.report", "rnnlab.data"),
    "report": ("rnnlab.run",),
    "errors": ("rnnlab",),
    "rundir": ("rnnlab",),
}


def within(module: str, packages: tuple[str, ...]) -> bool:
    """``module`` is one of ``packages`` or inside one (``rnnlab.rundir`` is not ``rnnlab.run``)."""
    return any(module == p or module.startswith(p + ".") for p in packages)


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_no_import_runs_back_up(part):
    assert modules_under(part), f"no modules under {part}"
    for path in modules_under(part):
        bad = sorted(m for m in imported_modules(path) if within(m, FORBIDDEN[part]))
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_only_report_imports_matplotlib():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "report" in path.relative_to(PACKAGE).parts:
            continue
        uses = sorted(m for m in imported_modules(path) if m.split(".")[0] == "matplotlib")
        assert not uses, f"{path.relative_to(PACKAGE)} imports {uses}"


def test_the_checker_sees_function_level_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from rnnlab.run import train\n    from rnnlab import rundir\n")
    assert imported_modules(probe) == {"rnnlab.run", "rnnlab.rundir"}


# The modules every task shares: they may dispatch to a task's modules, never name a task.
SHARED = ["run", "report/task.py", "report/figures.py", "report/compare.py", "report/sweep.py",
          "report/sweep_chart.py", "inference.py", "rundir.py", "errors.py"]  # fmt: skip
TASKS = sorted(p.stem for p in (PACKAGE / "conf" / "task").glob("*.yaml"))


def named_strings(path: Path) -> set[str]:
    """Every string constant of a file that is not a docstring."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        and id(node) not in docstrings
    }  # fmt: skip


@pytest.mark.parametrize("part", SHARED)
def test_shared_modules_never_name_a_task(part):
    assert {"forecast", "classify", "copy"} <= set(TASKS)
    for path in modules_under(part.removesuffix(".py")):
        named = sorted(named_strings(path) & set(TASKS))
        assert not named, f"{path.relative_to(PACKAGE)} names the task(s) {named}"


def test_the_task_name_check_sees_comparisons(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('"""forecast"""\ndef f(m):\n    return m.task == "forecast"\n')
    assert named_strings(probe) == {"forecast"}
