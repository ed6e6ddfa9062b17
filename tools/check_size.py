"""Size limits of the package that ruff has no rule for: modules of at most about 600 lines
(migrations aside) and functions of at most 80 lines. Run by ``make lint``; prints each excess
as ``path:line: what; split it`` and exits 1 if there is any."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MODULE_LINES = 600
FUNCTION_LINES = 80
ROOT = Path(__file__).resolve().parent.parent / "evacops"


def excesses(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(root.parent)
        n = len(text.splitlines())
        if n > MODULE_LINES:
            found.append(f"{rel}:1: module of {n} lines (limit {MODULE_LINES}); split it")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > FUNCTION_LINES:
                    found.append(
                        f"{rel}:{node.lineno}: function {node.name} of {length} lines "
                        f"(limit {FUNCTION_LINES}); split it"
                    )
    return found


def main() -> int:
    found = excesses()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
