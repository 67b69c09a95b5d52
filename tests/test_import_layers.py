"""In-function imports only where they defer a heavy or optional dependency, each with its reason.

An import inside a function hides a dependency from the reader and from import-linter's layer picture; it pays
for itself only when it keeps an expensive or optional package out of ``import`` time (``larnet --help`` must
not load torch, the dashboard must open without MediaPipe). The check parses every module of ``larnet_core``,
``dashboard`` and ``streamlit_app.py`` with :mod:`ast` (nothing is imported) and lists each in-function import
that either has no reason comment or defers nothing heavy: what it loads, directly or through the module-level
imports of the project modules it names (followed transitively, lazy package exports included), is already
loaded by its own module's top level, or is not on :data:`HEAVY`. Breaking an import cycle is not a reason:
import-linter's contracts forbid cycles between packages.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_PACKAGES = ("larnet_core", "dashboard")

# Top-level names worth loading lazily. Measured with `python -X importtime -c "import X"` (cumulative time of X,
# second run): torch 3.2 s, facenet_pytorch 3.4 s, torchvision 2.8 s, sklearn 1.4 s, scipy.signal 0.9 s, onnx
# 0.8 s, mediapipe 0.6 s, streamlit_webrtc 0.6 s, matplotlib.pyplot 0.5 s, pandas 0.35 s, streamlit 0.3 s, ray
# 0.3 s, alembic 0.3 s, sqlalchemy 0.2 s, pyarrow.parquet 0.2 s, psycopg 0.15 s, onnxruntime 0.14 s, cv2 0.14 s,
# openpyxl 0.13 s. Below 0.1 s and left out: numpy 0.08 s, tqdm 0.04 s, PIL. Some are kept for being optional or
# pulling one of the above: ray (the `ray` extra), av and aiortc (video I/O, WebRTC), plotly (the dashboard's
# charts), pytorch_grad_cam and ttach (torch), playwright and skimage (test tools), fcntl (POSIX
# only), threadpoolctl (not a requirement of its own: it comes with scikit-learn).
HEAVY = frozenset({
    "torch", "torchvision", "facenet_pytorch", "pytorch_grad_cam", "ttach", "onnx", "onnxruntime", "mediapipe",
    "ray", "av", "aiortc", "cv2", "scipy", "sklearn", "pandas", "pyarrow", "matplotlib", "openpyxl", "plotly",
    "sqlalchemy", "alembic", "psycopg", "psycopg2", "streamlit", "streamlit_webrtc", "playwright", "skimage",
    "fcntl", "threadpoolctl",
    # Submodules that load more than their package: torch's flop counter imports Triton (about a second).
    "torch.utils.flop_counter",
})

# What importing one of them loads of the others (measured: `import X` then the heavy names in sys.modules), so
# that a lazy import of pandas in a module that already loads scikit-learn is seen to defer nothing.
IMPLIES = {
    "torchvision": {"torch"},
    "ttach": {"torch"},
    "facenet_pytorch": {"cv2", "torch", "torchvision"},
    "pytorch_grad_cam": {"cv2", "matplotlib", "pandas", "pyarrow", "scipy", "sklearn", "threadpoolctl", "torch",
                         "torchvision", "ttach"},
    "mediapipe": {"cv2", "matplotlib"},
    "aiortc": {"av"},
    "sklearn": {"pandas", "pyarrow", "scipy", "threadpoolctl"},
    "pandas": {"pyarrow"},
    "alembic": {"sqlalchemy"},
    "streamlit": {"plotly"},
    "streamlit_webrtc": {"aiortc", "av", "plotly", "streamlit"},
}

# Comments that say nothing about why the import is lazy.
_TOOL_COMMENT_PREFIXES = ("noqa", "type:", "pragma", "pylint", "isort", "fmt:")


@dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    is_package: bool
    top_imports: list[ast.Import | ast.ImportFrom] = field(default_factory=list)
    inner_imports: list[ast.Import | ast.ImportFrom] = field(default_factory=list)
    lazy_exports: dict[str, str] = field(default_factory=dict)  # name -> submodule, from `_EXPORTS = {...}`


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _split_imports(tree: ast.Module) -> tuple[list, list]:
    """Imports run at import time (module and class bodies, not under TYPE_CHECKING) and those inside functions."""
    top: list = []
    inner: list = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                (inner if in_function else top).append(child)
            elif isinstance(child, ast.If) and not in_function and _is_type_checking(child.test):
                visit(ast.Module(body=child.orelse, type_ignores=[]), in_function)
            else:
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return top, inner


def _lazy_exports(tree: ast.Module) -> dict[str, str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            if any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets):
                return {
                    k.value: v.value
                    for k, v in zip(node.value.keys, node.value.values)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
                }
    return {}


def parse_module(name: str, source: str, path: Path, is_package: bool = False) -> Module:
    tree = ast.parse(source, filename=str(path))
    top, inner = _split_imports(tree)
    return Module(name, path, tree, is_package, top, inner, _lazy_exports(tree))


def load_project(root: Path = ROOT) -> dict[str, Module]:
    files = [p for package in PROJECT_PACKAGES for p in sorted((root / package).rglob("*.py"))]
    files.append(root / "streamlit_app.py")
    modules = {}
    for path in files:
        name, is_package = _module_name(path, root)
        modules[name] = parse_module(name, path.read_text(encoding="utf-8"), path, is_package)
    return modules


class ImportGraph:
    """What each import loads: project modules (followed through their top-level imports) and external packages."""

    def __init__(self, modules: dict[str, Module]) -> None:
        self.modules = modules
        self._heavy: dict[str, frozenset[str]] = {}

    def _absolute(self, module: Module, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        package = module.name if module.is_package else module.name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        return f"{package}.{node.module}" if node.module else package

    def _with_parents(self, dotted: str) -> list[str]:
        parts = dotted.split(".")
        return [".".join(parts[: i + 1]) for i in range(len(parts))]

    def targets(self, module: Module, node: ast.Import | ast.ImportFrom) -> set[str]:
        """Dotted names one import statement executes: packages, their parents and imported submodules."""
        names: set[str] = set()
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.update(self._with_parents(alias.name))
            return names
        base = self._absolute(module, node)
        names.update(self._with_parents(base))
        package = self.modules.get(base)
        for alias in node.names:
            if f"{base}.{alias.name}" in self.modules:
                names.add(f"{base}.{alias.name}")
            elif package is not None and alias.name in package.lazy_exports:
                names.add(f"{base}.{package.lazy_exports[alias.name]}")
        return names

    def heavy_of_names(self, module: Module, names: set[str]) -> frozenset[str]:
        heavy: set[str] = set()
        for name in names:
            if name in self.modules:
                heavy |= self.heavy_of_module(name)
            elif name.split(".")[0] in HEAVY:
                heavy.add(name.split(".")[0])
                heavy |= {name} & HEAVY
        return _with_implied(heavy)

    def heavy_of_module(self, name: str) -> frozenset[str]:
        """Heavy packages that importing ``name`` loads through module-level imports (transitively)."""
        if name in self._heavy:
            return self._heavy[name]
        # Importing a submodule runs its parent packages' __init__ first.
        seen = {parent for parent in self._with_parents(name) if parent in self.modules}
        stack = list(seen)
        heavy: set[str] = set()
        while stack:
            current = self.modules[stack.pop()]
            for node in current.top_imports:
                for target in self.targets(current, node):
                    if target in self.modules:
                        if target not in seen:
                            seen.add(target)
                            stack.append(target)
                    elif target.split(".")[0] in HEAVY:
                        heavy.add(target.split(".")[0])
                        heavy |= {target} & HEAVY
        self._heavy[name] = _with_implied(heavy)
        return self._heavy[name]


def _with_implied(names: set[str]) -> frozenset[str]:
    return frozenset(names.union(*(IMPLIES.get(name, set()) for name in names)))


def _comment_lines(source: str) -> dict[int, str]:
    comments = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    return comments


def _is_reason(comment: str | None) -> bool:
    return bool(comment) and not comment.lower().startswith(_TOOL_COMMENT_PREFIXES)


def _has_reason(node: ast.AST, lines: list[str], comments: dict[int, str], import_lines: set[int]) -> bool:
    end = node.end_lineno or node.lineno
    if any(_is_reason(comments.get(line)) for line in range(node.lineno, end + 1)):
        return True
    # A comment line directly above a block of consecutive import lines covers the whole block.
    # Blank lines between import groups do not end the block.
    above = node.lineno - 1
    while above in import_lines or (not lines[above - 1].strip() and above - 1 in import_lines):
        above -= 1
    return above >= 1 and lines[above - 1].lstrip().startswith("#") and _is_reason(comments.get(above))


def check_module(module: Module, graph: ImportGraph, source: str) -> list[Finding]:
    lines = source.splitlines()
    comments = _comment_lines(source)
    import_lines = {
        line for node in module.inner_imports for line in range(node.lineno, (node.end_lineno or node.lineno) + 1)
    }
    loaded_at_top = graph.heavy_of_names(module, {module.name} if module.name in graph.modules else set())
    try:
        shown = str(module.path.relative_to(ROOT))
    except ValueError:
        shown = str(module.path)
    findings = []
    for node in module.inner_imports:
        deferred = graph.heavy_of_names(module, graph.targets(module, node)) - loaded_at_top
        problems = []
        if not deferred:
            problems.append("defers no heavy or optional dependency (move it to the module's top)")
        if not _has_reason(node, lines, comments, import_lines):
            problems.append("has no comment saying why it is imported lazily")
        if problems:
            statement = ast.unparse(node)
            extra = f" [defers {', '.join(sorted(deferred))}]" if deferred else ""
            findings.append(Finding(shown, node.lineno, f"`{statement}` {' and '.join(problems)}{extra}"))
    return findings


def check_project(root: Path = ROOT) -> list[Finding]:
    modules = load_project(root)
    graph = ImportGraph(modules)
    findings = []
    for module in modules.values():
        findings += check_module(module, graph, module.path.read_text(encoding="utf-8"))
    return findings


def _check_source(source: str, extra: dict[str, str] | None = None) -> list[str]:
    """Check a module ``pkg.mod`` written as ``source``, beside ``extra`` project modules (name -> source)."""
    sources = {"pkg": "", **(extra or {}), "pkg.mod": source}
    modules = {}
    for name, text in sources.items():
        is_package = name == "pkg"
        path = Path("pkg/__init__.py") if is_package else Path(name.replace(".", "/") + ".py")
        modules[name] = parse_module(name, text, path, is_package)
    return [f.message for f in check_module(modules["pkg.mod"], ImportGraph(modules), source)]


def test_checker_flags_a_bare_in_function_import() -> None:
    messages = _check_source("def f():\n    import json\n    return json\n")
    assert len(messages) == 1
    assert "defers no heavy" in messages[0] and "no comment" in messages[0]


def test_checker_wants_a_reason_for_a_heavy_import() -> None:
    (message,) = _check_source("def f():\n    import torch\n    return torch\n")
    assert "no comment" in message and "defers no heavy" not in message
    assert _check_source("def f():\n    import torch  # lazy: --help must not load torch\n") == []
    assert _check_source("def f():\n    # lazy: torch only for training\n    import torch\n    import cv2\n") == []
    assert _check_source("def f():\n    import torch  # noqa: PLC0415\n") != []


def test_checker_flags_a_lazy_import_its_module_already_pays_for() -> None:
    (message,) = _check_source("import torch\n\ndef f():\n    import torch.nn  # lazy: torch\n")
    assert "defers no heavy" in message


def test_checker_follows_project_modules_and_lazy_exports() -> None:
    extra = {
        "pkg.models": "import torch\n",
        "pkg.light": "import json\n",
        "pkg": "_EXPORTS = {'Net': 'models', 'read': 'light'}\n",  # names imported from their submodule on use
    }
    assert _check_source("def f():\n    from pkg.models import Net  # torch only to run\n", extra) == []
    assert _check_source("def f():\n    from pkg import Net  # torch only to run\n", extra) == []
    assert len(_check_source("def f():\n    from pkg import read  # lazy\n", extra)) == 1
    assert len(_check_source("def f():\n    from .light import read  # lazy\n", extra)) == 1
    assert _check_source("def f():\n    from . import models  # torch only to run\n", extra) == []


def test_checker_ignores_type_checking_and_module_level_imports() -> None:
    source = "from typing import TYPE_CHECKING\nimport json\nif TYPE_CHECKING:\n    import torch\n"
    assert _check_source(source + "\ndef f():\n    import torch  # lazy: torch for inference only\n") == []


def test_in_function_imports_defer_heavy_dependencies_with_a_reason() -> None:
    findings = check_project()
    per_file: dict[str, int] = {}
    for finding in findings:
        per_file[finding.path] = per_file.get(finding.path, 0) + 1
    counts = ", ".join(f"{path} {count}" for path, count in sorted(per_file.items()))
    assert not findings, (f"{len(findings)} in-function imports to hoist or explain ({counts}):\n"
                          + "\n".join(map(str, findings)))
