"""eglib's layout: wings on floors, imports only downwards, no import cycle (README, 'Layout').

Every ``import`` statement counts, including those inside functions: a loop hidden in a function
is still a loop a reader has to untangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "eglib"

# A wing may import from its own wing and from lower floors only.
FLOORS = {
    "eglib": 0, "eglib.config": 0, "eglib.storage": 0, "eglib.safe_paths": 0, "eglib.splits": 0, "eglib.timing": 0, "eglib.progress": 0, "eglib.optim": 0,
    "eglib.reuse": 0,
    "eglib.features": 1,
    "eglib.method": 2,
    "eglib.video": 3, "eglib.baselines": 3, "eglib.text": 3,
    "eglib.data": 4,
    "eglib.run": 5,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def wing(module: str) -> str:
    """``eglib.method.gate`` -> ``eglib.method``; ``eglib.config`` -> ``eglib.config``."""
    return ".".join(module.split(".")[:2])


def imports(path: Path, known: set[str]) -> set[str]:
    """The eglib modules that ``path`` imports (``from eglib.x import y`` counts ``eglib.x.y`` when
    that is a module, else ``eglib.x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("eglib")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("eglib"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in known else node.module)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, set(known)) - {name} for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_every_module_sits_on_a_floor():
    missing = sorted({wing(name) for name in modules()} - set(FLOORS))
    assert not missing, f"wings without a floor in FLOORS: {missing}"


def test_no_import_cycle():
    # a package's __init__ re-exporting its modules is not a cycle through that package
    edges = {name: {t for t in targets if not (name.startswith(t + ".") and t != "eglib")}
             for name, targets in graph().items()}
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges))}"


def test_imports_only_go_down():
    upward = []
    for name, targets in graph().items():
        for target in targets:
            if target == "eglib" or wing(target) == wing(name):
                continue
            if FLOORS[wing(target)] >= FLOORS[wing(name)] and FLOORS[wing(name)] > 0:  # the ground shares
                upward.append(f"{name} -> {target}")
    assert not upward, "imports that go up or sideways between wings:\n" + "\n".join(sorted(upward))


def test_the_method_knows_no_datasets_or_runs():
    for name, targets in graph().items():
        if wing(name) == "eglib.method":
            assert not {wing(t) for t in targets} & {"eglib.data", "eglib.run", "eglib.video", "eglib.baselines"}, name


@pytest.mark.parametrize("edges, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
])
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert find_cycle(edges) == expected


def test_no_package_file_is_ignored_by_git():
    """A package file that .gitignore matches (``data/`` once matched ``eglib/data/``) never reaches a clone."""
    import shutil
    import subprocess

    if shutil.which("git") is None or not (PACKAGE.parent / ".git").exists():
        pytest.skip("not a git checkout")
    files = [str(path.relative_to(PACKAGE.parent)) for path in PACKAGE.rglob("*") if path.is_file()
             and "__pycache__" not in path.parts]
    ignored = subprocess.run(["git", "check-ignore", "--no-index", *files], cwd=PACKAGE.parent,
                             capture_output=True, text=True).stdout.split()
    assert not ignored, f"files of eglib that git ignores: {ignored}"
