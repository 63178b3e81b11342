"""The package's layering, read from the source (every import, at module level or inside a function).

* The core (``heatmap_landmarks`` outside ``mrml/`` and ``slicer_module/``) never imports Slicer, VTK, Qt or
  ctk, nor the Slicer layer: it runs without them.
* The task packages ``cardiac/`` and ``sutures/`` do not import each other: a third task copies their shape
  without touching them.
* Neither the core nor the command line imports ``training``; ``training`` uses the core, never the CLI.
* No module imports another's private (``_name``) names.
* Among the modules of ``heatmap_landmarks`` there is no import cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "heatmap_landmarks"
SLICER_LAYER = ("heatmap_landmarks.mrml", "heatmap_landmarks.slicer_module")
SLICER_LIBRARIES = ("slicer", "vtk", "qt", "ctk", "mrml", "vtkmodules")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, list[str], int]]:
    """``(module imported, names taken from it, line)`` for every import statement in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, [alias.name for alias in node.names], node.lineno))
    return out


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def within(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_core_never_imports_slicer_or_the_slicer_layer():
    bad = []
    for path in sources("heatmap_landmarks"):
        me = module_name(path)
        if within(me, SLICER_LAYER):
            continue
        for target, _, line in imports_of(path):
            if within(target, SLICER_LIBRARIES) or within(target, SLICER_LAYER):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("task, other", [("cardiac", "sutures"), ("sutures", "cardiac")])
def test_task_packages_do_not_import_each_other(task, other):
    bad = [f"{p.relative_to(ROOT)}:{line} imports {target}"
           for p in sources(f"heatmap_landmarks/{task}") for target, _, line in imports_of(p)
           if within(target, [f"heatmap_landmarks.{other}"])]
    assert not bad, "\n".join(bad)


def test_nothing_but_training_imports_training_and_training_not_the_cli():
    bad = [f"{p.relative_to(ROOT)}:{line} imports {target}" for p in sources("heatmap_landmarks")
           for target, _, line in imports_of(p) if within(target, ["training"])]
    bad += [f"{p.relative_to(ROOT)}:{line} imports {target}" for p in sources("training")
            for target, _, line in imports_of(p) if within(target, ["heatmap_landmarks.cli"])]
    assert not bad, "\n".join(bad)


def test_no_module_takes_another_modules_private_names():
    bad = []
    for path in sources("heatmap_landmarks", "training", "CardiacLandmarkGAN", "SutureDetection"):
        if "Testing" in path.parts:
            continue
        me = module_name(path)
        for target, names, line in imports_of(path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and target != me:
                bad.append(f"{path.relative_to(ROOT)}:{line} takes {', '.join(private)} from {target}")
    assert not bad, "\n".join(bad)


def test_no_import_cycle_in_the_package():
    modules = {module_name(p): p for p in sources("heatmap_landmarks")}
    edges: dict[str, set] = {m: set() for m in modules}
    for me, path in modules.items():
        for target, names, _ in imports_of(path):
            # "from .pkg import name" may take a submodule: count the submodule, else the package itself.
            candidates = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules] or [target]
            for c in candidates:
                # Importing a submodule runs its packages' __init__ first: those count too. A package
                # importing its own submodules is not a cycle with them.
                parts = c.split(".")
                for k in range(2, len(parts) + 1):
                    d = ".".join(parts[:k])
                    if d in modules and d != me and not me.startswith(d + "."):
                        edges[me].add(d)
    cycles, state = [], {}

    def visit(m, stack):
        state[m] = "open"
        stack.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == "open":
                cycles.append(" -> ".join(stack[stack.index(n):] + [n]))
            elif n not in state:
                visit(n, stack)
        stack.pop()
        state[m] = "done"

    for m in sorted(modules):
        if m not in state:
            visit(m, [])
    assert not cycles, "\n".join(cycles)
