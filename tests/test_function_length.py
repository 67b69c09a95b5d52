"""No function of the engine or the dashboard runs over 100 lines: a longer one is split into named steps.

A function's length is counted from its ``def`` line to its last line, docstring included (decorators above the
``def`` are not counted). Methods and nested functions count as functions of their own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 100


def _sources() -> list[Path]:
    return [*sorted((ROOT / "larnet_core").rglob("*.py")), *sorted((ROOT / "dashboard").rglob("*.py")),
            ROOT / "streamlit_app.py"]


def long_functions(path: Path, max_lines: int = MAX_LINES) -> list[tuple[str, int, int]]:
    """``(qualified name, def line, length)`` of every function in ``path`` longer than ``max_lines`` lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                length = child.end_lineno - child.lineno + 1
                if length > max_lines:
                    found.append((name, child.lineno, length))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def test_the_length_check_counts_from_def_to_end_and_finds_nested_functions(tmp_path):
    lines = ["class Owner:", "    @staticmethod", "    def long():", "        \"\"\"Doc.\"\"\""]
    lines += [f"        x{i} = {i}" for i in range(97)]
    lines += ["        def inner():", "            return 1", "        return inner", "", "", "def short():",
              "    return 0"]
    source = tmp_path / "sample.py"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert long_functions(source) == [("Owner.long", 3, 102)]
    assert long_functions(source, max_lines=102) == []
    assert long_functions(source, max_lines=1) == [("Owner.long", 3, 102), ("Owner.long.inner", 102, 2),
                                                   ("short", 107, 2)]


def test_no_function_is_over_100_lines():
    assert (ROOT / "streamlit_app.py").is_file()
    too_long = [f"{path.relative_to(ROOT)}:{line} {name} ({length} lines)"
                for path in _sources() for name, line, length in long_functions(path)]
    if too_long:
        pytest.fail(f"{len(too_long)} function(s) over {MAX_LINES} lines; split each into named steps:\n"
                    + "\n".join(too_long))
