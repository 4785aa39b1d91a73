"""Fail when a product module is over 600 lines or a function over 80 (STYLE.md: a seam waiting to be cut).

Product code only: tests, migrations, benchmarks, the fake Stripe (a test tool) and vendored data are
left out. Prints every offender and exits 1, or prints nothing and exits 0.
"""

import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
PACKAGES = ("humblytics", "tracking", "revenue", "splittests")
SKIPPED_PARTS = {"tests", "migrations", "fakestripe"}


def product_modules(root: Path):
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if not SKIPPED_PARTS.intersection(path.relative_to(root).parts):
                yield path


def offences(path: Path, root: Path):
    text = path.read_text(encoding="utf-8")
    name = path.relative_to(root)
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        yield f"{name}: {lines} lines (at most {MAX_MODULE_LINES})"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                yield f"{name}:{node.lineno}: {node.name} is {length} lines (at most {MAX_FUNCTION_LINES})"


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    found = [line for path in product_modules(root) for line in offences(path, root)]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
