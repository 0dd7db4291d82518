"""Every module of the package imports on its own, in a fresh interpreter: no import cycle hides behind the order
in which `ov_reciprocam/__init__.py` happens to import them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ov_reciprocam"


def _module(path: Path) -> str:
    return ".".join(("ov_reciprocam", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")


MODULES = sorted(_module(p) for p in PACKAGE.rglob("*.py") if p.name != "__main__.py")


def test_every_module_is_listed():
    assert "ov_reciprocam.methods.vit.shortcut" in MODULES and "ov_reciprocam.cli" in MODULES
    assert len(MODULES) > 50


def test_each_module_imports_alone():
    # One interpreter per module, all started together: ~60 imports of OpenVINO in a few seconds.
    runs = {
        m: subprocess.Popen([sys.executable, "-c", f"import {m}"], stderr=subprocess.PIPE, text=True) for m in MODULES
    }
    errors = {m: p.communicate()[1] for m, p in runs.items()}
    failed = {m: errors[m].strip().splitlines()[-1:] for m, p in runs.items() if p.returncode}
    assert not failed, failed


# Every package under methods/ is a method family (docs/architecture.md), or the detectors' branch, which is held
# apart from them alike.
FAMILIES = sorted(p.parent.name for p in (PACKAGE / "methods").glob("*/__init__.py"))


def test_the_families_are_found():
    assert {"cnn", "vit", "detection"} <= set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_never_imports_another_familys_modules(family):
    """Nor `ov_reciprocam.methods` itself, which imports them all: what families share is in methods' modules."""
    others = [f"ov_reciprocam.methods.{other}" for other in FAMILIES if other != family]

    def forbidden(target: str) -> bool:
        return target == "ov_reciprocam.methods" or any(target == o or target.startswith(f"{o}.") for o in others)

    wrong = [
        f"{_module(path)} imports {target}"
        for path in (PACKAGE / "methods" / family).rglob("*.py")
        for target in _imports(path, _module(path))
        if forbidden(target)
    ]
    assert not wrong, wrong


# docs/architecture.md's layers, top first: a module imports its own layer or the ones above it.
LAYERS = "version errors vocabulary model analysis methods photos patching inference output quality runs cli".split()


def _layer(module: str) -> str:
    return module.removeprefix("ov_reciprocam.").split(".")[0]


def _imports(path: Path, module: str) -> set[str]:
    """The package modules `path` imports, at any depth, resolved to absolute names."""
    import ast

    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join(base + ([node.module] if node.module else []))
            if name.startswith("ov_reciprocam"):
                submodules = {f"{name}.{a.name}" for a in node.names} & set(MODULES)
                found |= submodules or {name}  # `from ..output import pictures` imports the module, not the package
    return {m for m in found if m.removeprefix("ov_reciprocam.").split(".")[0] in LAYERS}


def test_every_module_imports_only_its_layer_and_the_ones_above():
    wrong = []
    for module in MODULES:
        if module == "ov_reciprocam" or _layer(module) not in LAYERS:
            continue
        path = PACKAGE.joinpath(*module.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for target in _imports(path, module):
            if LAYERS.index(_layer(target)) > LAYERS.index(_layer(module)):
                wrong.append(f"{module} imports {target}")
    assert not wrong, wrong
