"""The packages import one way: base <- build_network <- inputs <- simulation <- analysis <- perturbations / studies.

Every import statement of every module (those inside functions too) is read from the source; an import of a package
of a higher level, or of any ``__main__`` module, fails the test with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The level of each package: a module may import packages of its own level or lower only. A study may use a lower
#: study (the circuits use the single-neuron study's cell models; the criticality and digit studies use the circuits).
LEVELS = {"common": 0, "build_network": 1, "inputs": 2, "simulation": 3, "analysis": 4, "calibration": 5,
          "perturbations": 5, "studies": 5, "studies.neurons": 5, "studies.circuits": 6, "studies.criticality": 7,
          "studies.digits": 7, "benchmarks": 8}
TOP_SCRIPTS = {"run_pointnet.py": 8}


def package_of(module: str) -> str | None:
    """The entry of :data:`LEVELS` a dotted module name belongs to (the longest matching prefix), or None."""
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        if ".".join(parts[:k]) in LEVELS:
            return ".".join(parts[:k])
    return None


def project_imports(file: Path, package: str) -> list[tuple[int, str]]:
    """(line, imported module) of every import of a project package in ``file`` (relative imports resolved)."""
    found = []
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(file.relative_to(REPO).with_suffix("").parts[: -node.level])
                found.append((node.lineno, f"{base}.{node.module}" if node.module else base))
            else:
                found.append((node.lineno, node.module or ""))
    return [(line, name) for line, name in found if package_of(name) is not None]


def modules() -> list[tuple[Path, str, int]]:
    files = [(f, package_of(".".join(f.relative_to(REPO).with_suffix("").parts)))
             for f in sorted(REPO.glob("*/**/*.py"))]
    return [(f, pkg, LEVELS[pkg]) for f, pkg in files if pkg is not None] + [
        (REPO / name, name, level) for name, level in TOP_SCRIPTS.items()]


@pytest.mark.parametrize(("file", "package", "level"), modules(), ids=lambda v: str(v) if isinstance(v, str) else "")
def test_no_module_imports_upward(file: Path, package: str, level: int) -> None:
    upward = [f"{file.relative_to(REPO)}:{line} imports {name} (level {LEVELS[package_of(name)]} > {level})"
              for line, name in project_imports(file, package) if LEVELS[package_of(name)] > level]
    mains = [f"{file.relative_to(REPO)}:{line} imports {name}" for line, name in project_imports(file, package)
             if name.endswith("__main__") and not file.name == "__main__.py"]
    assert not upward and not mains, "\n".join(upward + mains)


def test_the_walk_sees_imports() -> None:
    """The walker is not vacuous: it finds the runner's import of the simulation layer and resolves relative ones."""
    found = dict((name, line) for line, name in project_imports(REPO / "run_pointnet.py", "run_pointnet.py"))
    assert "simulation" in found
    relative = [name for _, name in project_imports(REPO / "simulation" / "run.py", "simulation")]
    assert "simulation.config" in relative and "simulation.clamp" in relative
    every_package = {pkg for _, pkg, _ in modules()}
    assert set(LEVELS) - {"studies.circuits", "studies.criticality", "studies.digits"} <= every_package


def _module_name(file: Path) -> str:
    parts = file.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1]) if parts[-1] == "__init__" else ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a name imported from a package counts as that module when it is
    one, else as the package)."""
    files = {_module_name(f): f for f, _, _ in modules() if f.suffix == ".py" and f.parent != REPO}
    graph: dict[str, set[str]] = {}
    for name, file in files.items():
        targets = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.ImportFrom):
                package = name if file.name == "__init__.py" else name.rpartition(".")[0]
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                    + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    targets.add(full if full in files else base)
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def test_no_import_circle() -> None:
    """No chain of imports leads back to where it started (the circuits' figures -> stdp -> run -> figures circle
    is gone)."""
    graph = import_graph()
    assert "studies.circuits.figures" in graph and "simulation.config" in graph["simulation.run"]
    circles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert not circles, "\n".join(circles)
