"""Issue 25: no module over 500 lines and no function over 100 (its docstring not counted), so a new task or
modality is one more small function beside the others, not another concern inside a long one."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "audit"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 100


def _function_lengths(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                length -= first.end_lineno - first.lineno + 1
            yield node, length


def test_no_module_over_500_lines_and_no_function_over_100():
    long_modules, long_functions = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        rel = path.relative_to(PACKAGE.parent)
        if len(source.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(f"{rel}: {len(source.splitlines())} lines")
        for node, length in _function_lengths(ast.parse(source)):
            if length > MAX_FUNCTION_LINES:
                long_functions.append(f"{rel}:{node.lineno} {node.name}: {length} lines")
    assert not long_modules and not long_functions, "\n".join(long_modules + long_functions)


def test_the_measure_counts_code_not_the_docstring():
    source = "def f():\n    '''doc\n    more doc'''\n    return 1\n"
    ((_, length),) = list(_function_lengths(ast.parse(source)))
    assert length == 2
