"""Every file, module and name that README.md, docs/*.md and the CLI's help texts point at exists: a move or a rename
that leaves a stale pointer behind fails here, not in a reader's hands."""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import fields
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "ov_reciprocam"
README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]

# What the texts name that is not in this repository, or not meant to be: each with why. Kept short on purpose;
# test_every_exception_is_still_needed drops an entry once no text names it.
NOT_OURS = {
    "methods/white_box/recipro_cam.py": "the Recipro-CAM authors' repository, in docs/benchmarks.md",
    "benchmarks/overhead.py": "named with the commit it ran at, and said to be replaced since (docs/benchmarks.md)",
}
# In a path, the name of something still to be made (`methods/NAME/family.py`): only the folders before it must exist.
PLACEHOLDER = "NAME"
# First words of dotted names that belong to other libraries or to a snippet's variables.
FOREIGN_ROOTS = {
    "ov": "openvino, as the docs import it",
    "click": "the CLI's library, in the recipe for a new flag",
    "openvino": "OpenVINO's own API",
    "cv2": "OpenCV, in snippets that save a picture",
    "nncf": "NNCF's API, which `quantize` calls",
    "torch": "how the zoo models were exported",
    "Model": "Model API's `Model.create_model`",
    "QuantizationPreset": "NNCF's enum, which `--preset` names",
    "result": "a Model API result in docs/ecosystem.md's snippet",
}
# Old homes the README's migration note names beside the new ones: they must stay gone, or the note lies; anywhere
# else they are stale.
FORMER = {
    "ov_reciprocam.shards",
    "ov_reciprocam.imaging",
    "ov_reciprocam.bench",
    "ov_reciprocam.info",
    "ov_reciprocam.scores",
    "ov_reciprocam.output.cluster",
    "ov_reciprocam.quality.on_ray",
    "ov_reciprocam.inference.preprocess",
    "ov_reciprocam.inference.imaging",
}

FILE_SUFFIXES = set("py md json csv html png jpg npy txt xml bin onnx tflite ipynb cpp".split())
# Not after a word, a dot, a slash or a dash: `out/samples/x` and `../samples/x` (a link, checked as one) are not
# repository paths, `tests/methods/` is one path, not two.
_START = r"(?<![\w./-])"
_REPO_PATH = re.compile(_START + r"(?:ov_reciprocam|tests|benchmarks|samples|docs)/[\w./*-]*(?:::\w+)?")
_PACKAGE_PATH = re.compile(_START + r"(?:analysis|model|methods|inference|output|quality|cli|vit|cnn)/[\w./*-]*")
_PACKAGE_NAME = re.compile(r"(?<![\w.])(?:ov_reciprocam|orc)(?:\.[A-Za-z_]\w*)+")
_SPAN = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)(?:\(\))?`")
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_URL = re.compile(r"[a-z]+://\S+")
_FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def _modules() -> list[str]:
    return sorted(
        ".".join(("ov_reciprocam", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for p in PACKAGE.rglob("*.py")
        if p.name != "__main__.py"
    )


MODULES = _modules()


@cache
def _classes() -> dict[str, list[str]]:
    """Class name -> the modules that define it, read from the source (importing all of them to look is slow)."""
    found: dict[str, list[str]] = {}
    for module in MODULES:
        path = PACKAGE.joinpath(*module.split(".")[1:])
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef):
                found.setdefault(node.name, []).append(module)
    return found


@cache
def _rt_info_keys() -> set[str]:
    """The keys under rt_info's `ov_reciprocam`: PatchInfo's fields, the families' own (their `blank_record`), and each
    key a source line names beside that namespace (`Key(OURS, "raw_pixels")`)."""
    from ov_reciprocam.methods import FAMILIES
    from ov_reciprocam.model.rt_info import PatchInfo

    keys = {f.name for f in fields(PatchInfo)} - {
        "tail",
        "picked",
        "family_fields",
    }  # not keys: `path` holds the first two
    keys |= {key for family in FAMILIES for key in getattr(family, "blank_record", {})}
    for path in PACKAGE.rglob("*.py"):
        for line in path.read_text().splitlines():
            if re.search(r'\b(OURS|RT_KEY)\b|"ov_reciprocam"', line):
                keys |= set(re.findall(r'"(\w+)"', line))
    return keys


def _resolves(module: str, attributes: list[str]) -> bool:
    try:
        value = importlib.import_module(module)
    except ImportError:
        return False
    for i, name in enumerate(attributes):
        if not hasattr(value, name):
            # A field with no value on the class (`Found.own`, a Protocol's `kernel`): declared, nothing to go on from.
            annotated = any(name in vars(k).get("__annotations__", {}) for k in getattr(value, "__mro__", ()))
            return annotated and i == len(attributes) - 1
        value = getattr(value, name)
    return True


def name_exists(name: str) -> bool | None:
    """Whether a dotted name resolves in the package; None when its first word is nothing of ours.

    `ov_reciprocam.a.b` and `orc.a` (the README's alias) from the top; `bench.measure` or `methods.protocol.Family` from
    any module whose name ends so; `Family.record` from the class of that name.
    """
    parts = name.split(".")
    if parts[0] in ("ov_reciprocam", "orc"):
        parts[0] = "ov_reciprocam"
        return any(_resolves(".".join(parts[:k]), parts[k:]) for k in range(len(parts), 0, -1))
    roots = [
        (module, parts[k:])
        for module in MODULES
        for k in range(len(parts), 0, -1)
        if module.endswith("." + ".".join(parts[:k]))
    ]
    roots += [(module, parts) for module in _classes().get(parts[0], [])]
    if not roots:
        return None
    return any(_resolves(module, rest) for module, rest in roots)


def _path_exists(path: str, base: Path) -> bool:
    path = path.rstrip(".")
    parts = path.split("/")
    path = "/".join(parts[: next((i for i, part in enumerate(parts) if PLACEHOLDER in part), len(parts))])
    if "*" in path:
        return any(base.glob(path))
    return (base / path).exists()


def _anchors(path: Path) -> set[str]:
    """GitHub's ids for a Markdown file's headings: lower case, punctuation dropped, spaces as dashes."""
    headings = re.findall(r"^#+\s+(.*)$", _FENCE.sub("", path.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def stale(text: str, where: Path | None = None) -> list[str]:
    """What `text` names that does not exist: paths, dotted names, and (for a Markdown file at `where`) link targets
    and their anchors. Fenced code is read for paths and `ov_reciprocam.` names only: its other dotted names are
    a snippet's variables."""
    text = _URL.sub(" ", text)
    former = FORMER if where == README else set()
    wrong = []
    for match in _REPO_PATH.finditer(text):
        path, _, test = match.group(0).partition("::")
        key = re.fullmatch(r"ov_reciprocam/(\w+)", path)
        if key and not (REPO / path).exists():  # `ov_reciprocam/score_kind`: rt_info's path to a value patch writes
            if key.group(1) not in _rt_info_keys():
                wrong.append(path)
        elif path not in NOT_OURS and not _path_exists(path, REPO):
            wrong.append(path)
        elif test and not re.search(rf"^(?:def|class) {test}\b", (REPO / path).read_text(), re.M):
            wrong.append(match.group(0))
    for match in _PACKAGE_PATH.finditer(text):
        path = match.group(0)
        base = PACKAGE / "methods" if path.startswith(("vit/", "cnn/")) else PACKAGE
        if path not in NOT_OURS and not _path_exists(path, base):
            wrong.append(path)
    for match in _PACKAGE_NAME.finditer(text):
        name = match.group(0)
        if name not in former and not name_exists(name):
            wrong.append(name)
    for match in _SPAN.finditer(_FENCE.sub("", text)):
        name = match.group(1)
        if name.rsplit(".", 1)[1] in FILE_SUFFIXES or name.split(".")[0] in FOREIGN_ROOTS or name in former:
            continue
        if not name_exists(name):  # None (nothing of ours) is as wrong as False: a renamed module's old name
            wrong.append(name)
    if where is not None:
        for match in _LINK.finditer(_FENCE.sub("", text)):
            target, _, anchor = match.group(1).partition("#")
            page = (where.parent / target) if target else where
            if not page.exists():
                wrong.append(match.group(1))
            elif anchor and page.suffix == ".md" and anchor not in _anchors(page):
                wrong.append(match.group(1))
    return sorted(set(wrong))


def _help_texts() -> list[tuple[str, str]]:
    """(command, text) for every help string the CLI prints: the group's, each command's and each option's."""
    from ov_reciprocam.cli import main

    texts = [("ov-reciprocam", main.help or "")]
    for name, command in main.commands.items():
        texts += [(name, command.help or ""), (name, command.epilog or "")]
        texts += [(f"{name} {param.opts[-1]}", param.help or "") for param in command.params if hasattr(param, "help")]
    return [(where, text) for where, text in texts if text]


@pytest.mark.parametrize("page", DOCS, ids=lambda p: p.name)
def test_every_pointer_in_the_docs_exists(page):
    assert stale(page.read_text(), page) == []


def test_every_pointer_in_the_help_texts_exists():
    wrong = {where: found for where, text in _help_texts() if (found := stale(text))}
    assert wrong == {}


STALE = [
    "`ov_reciprocam/nowhere.py`",
    "tests/cli/test_nowhere.py",
    "tests/test_docs.py::test_nowhere",
    "rt_info `ov_reciprocam/no_key`",
    "`output/nowhere.py`",
    "`vit/graph.py`",
    "ov_reciprocam.output.nowhere",
    "`orc.nowhere`",
    "`bench.nowhere`",
    "`graph.saliency`",
    "`Family.nowhere`",
    "[a page](nowhere.md)",
    "[a heading](heads.md#nowhere)",
    "ov_reciprocam.shards",
]
NOT_POINTERS = [
    "`out/dog_xai.xml` in OUTPUT/shards",
    "`NAME_maps.png`",
    "`model.xml`",
    "https://github.com/a/b/tree/main/tests/x.py",
    "`ov.convert_model`",
    "`methods/NAME/family.py`",
    "tests/methods/test_NAME.py",
    "`orc.patch`",
    "`bench.measure`",
    "`methods.protocol.Family`",
    "`Family.record`",
    "`vit/rows.py`",
    "`tests/support/`",
    "[heads](heads.md#quantized-models)",
    "tests/test_docs.py::test_a_stale_pointer_fails",
    "rt_info `ov_reciprocam/score_kind`",
]


def test_a_stale_pointer_fails():
    found = stale(", ".join(STALE), REPO / "docs" / "x.md")
    assert len(found) == len(STALE), found


def test_what_is_not_a_pointer_passes():
    assert stale(", ".join(NOT_POINTERS), REPO / "docs" / "x.md") == []


def test_the_former_homes_are_gone():
    assert all(name_exists(name) is not True for name in FORMER)


def test_every_exception_is_still_needed():
    texts = "\n".join([p.read_text() for p in DOCS] + [text for _, text in _help_texts()])
    unused = [entry for entry in [*NOT_OURS, *FORMER] if entry not in texts]
    unused += [root for root in FOREIGN_ROOTS if not re.search(rf"`{root}\.", texts)]
    assert unused == []


def test_the_architecture_table_names_every_module():
    """Each folder's row in docs/architecture.md names each of its modules: a new module gets its line."""
    rows = dict(re.findall(r"^\| `([\w/.]+)` \| (.*) \|$", (REPO / "docs" / "architecture.md").read_text(), re.M))
    missing = []
    for module in MODULES:
        parts = module.split(".")[1:]
        # cli/'s row says what the layer does, not its modules: one per command group, named in their help.
        if len(parts) < 2 or parts[0] == "cli" or PACKAGE.joinpath(*parts).is_dir():
            continue
        row = rows.get("/".join(parts[:-1]) + "/", "")
        if f"`{parts[-1]}`" not in row:
            missing.append(module)
    assert missing == []


def test_the_family_recipe_lists_the_protocol():
    """docs/architecture.md names each member of `methods.protocol.Family` in its family recipe, and no other."""
    from ov_reciprocam.methods.protocol import Family

    text = (REPO / "docs" / "architecture.md").read_text()
    recipe = text.split("### Add a method family", 1)[1].split("\n### ", 1)[0]
    listed = re.findall(r"^\s+- `(\w+)[`(]", recipe, re.M)
    members = set(vars(Family).get("__annotations__", {})) | {n for n in vars(Family) if not n.startswith("_")}
    assert sorted(listed) == sorted(members)
