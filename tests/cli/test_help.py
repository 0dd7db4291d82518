"""Help that anyone can read: every command's --help has examples, they run on the repository's samples, its
options sit under headings, each flag means one thing, and no help names a module that is not there."""

from __future__ import annotations

import importlib
import json
import os
import pty
import re
import shlex
import subprocess
import sys

import click
import openvino as ov
import pytest
from click.testing import CliRunner
from commands import cli as run
from paths import DOG_MODEL, IMAGES, SAMPLES

import ov_reciprocam as orc
from ov_reciprocam.cli import main
from ov_reciprocam.cli.options import OTHER, SECTIONS, parse_dims
from ov_reciprocam.cli.progress import INTERVAL_ENV
from ov_reciprocam.photos.imaging import collect_images
from ov_reciprocam.quality.evaluate import BASELINES, DEFAULT_METHODS, Evaluator, eval_settings
from ov_reciprocam.vocabulary import normalization

COMMANDS = sorted(main.commands)
CORAL = SAMPLES / "models" / "coral" / "mobilenet_v1_0.25_128_quant.tflite"
BIRD = SAMPLES / "openimages" / "bird.png"
DOG_FLAGS = ("--mean", "127.5", "--scale", "127.5", "--rgb", "--interpolation", "cubic")
# Examples that read what another command's example wrote run after it: patch's model, quantize's INT8 model.
ORDER = ["patch", "quantize"]
# Flags whose meaning or default differs between commands, each help saying how.
DIFFERENT = {
    "-o": "a folder or an .xml, each command's own default",
    "--output": "the same",
    "-d": "quantize: the NNCF target device; patch: an optional compile check",
    "--device": "the same",
    "--batch-size": "eval's inputs are one photo's masked copies",
    "--precision": "bench times the model as deployed (auto); the others compare maps (f32)",
    "--top-k": "patch and bench pick classes in-graph; explain chooses the maps it writes",
    "--class": "explain takes several; eval one, or boxes",
    "--baselines": "bench times them; eval scores them",
    "--rise-masks": "bench times RISE (4000); eval counts D-RISE's too, for a detector (1000)",
    "--json": "what the JSON holds",
}


def help_of(*command: str) -> str:
    result = CliRunner().invoke(main, [*command, "--help"], terminal_width=120)
    assert result.exit_code == 0, result.output
    return result.output


def examples(text: str) -> list[list[str]]:
    """The command lines a help shows: `ov-reciprocam ...` lines, continued by a trailing backslash."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [
        shlex.split(line, comments=True) for line in joined.splitlines() if line.lstrip().startswith("ov-reciprocam ")
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_has_an_example_of_its_command(command):
    found = examples(help_of(command))
    assert found, f"`{command} --help` shows no example"
    assert all(e[1] == command for e in found)


def test_the_examples_run_on_the_samples(tmp_path, monkeypatch):
    """Every example of every help, the group's first, as a user would paste them from the repository."""
    (tmp_path / "samples").symlink_to(SAMPLES)
    monkeypatch.chdir(tmp_path)
    lines = examples(help_of())
    for command in ORDER + [c for c in COMMANDS if c not in ORDER]:
        lines += [e for e in examples(help_of(command)) if e not in lines]
    failed = []
    for line in lines:
        result = CliRunner().invoke(main, line[1:])
        if result.exit_code != 0:
            failed.append(f"{shlex.join(line)}\n{result.output}{result.exception or ''}")
    assert not failed, "\n\n".join(failed)
    assert (tmp_path / "out" / "explained" / "results.json").is_file()


def test_no_help_names_a_missing_module_or_attribute():
    texts = [help_of()] + [help_of(c) for c in COMMANDS]
    named = {m.rstrip(".") for text in texts for m in re.findall(r"ov_reciprocam(?:\.\w+)+", text)}
    assert "ov_reciprocam.output.shards" in named  # explain's --ray paragraph: the check has something to check
    for name in sorted(named):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):  # the longest importable module, then attributes
            try:
                found = importlib.import_module(".".join(parts[:i]))
                break
            except ModuleNotFoundError:
                continue
        for attribute in parts[i:]:
            assert hasattr(found, attribute), f"a help names {name}, which does not exist"
            found = getattr(found, attribute)


@pytest.mark.parametrize("command", COMMANDS)
def test_options_sit_under_headings_in_one_order(command):
    for param in main.commands[command].params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            assert getattr(param, "section", OTHER) != OTHER, f"{command} {param.opts} has no heading"
    text = help_of(command)
    headings = [line[:-1] for line in text.splitlines() if line.endswith(":") and line[:1].isupper()]
    headings = [h for h in headings if h in SECTIONS]
    assert headings == sorted(headings, key=SECTIONS.index) and "Options" not in text.splitlines()
    assert headings[-1] == OTHER and "-h, --help" in text


def test_one_meaning_and_one_default_per_flag():
    seen: dict[str, set] = {}
    for command in main.commands.values():
        for param in command.params:
            if isinstance(param, click.Option):
                for flag in param.opts:
                    seen.setdefault(flag, set()).add((param.help, repr(param.default)))
    differ = sorted(flag for flag, meanings in seen.items() if len(meanings) > 1)
    assert differ == sorted(DIFFERENT)


def test_lists_in_brackets_as_openvino_writes_them():
    assert parse_dims("[1,160,160,3]") == parse_dims("1,160,160,3") == parse_dims("1 160 160 3") == (1, 160, 160, 3)
    assert parse_dims("[1,3,?,?]") == (1, 3, -1, -1)
    assert normalization("mean", "[127.5,127.5,127.5]") == normalization("mean", "127.5 127.5 127.5") == (127.5,) * 3
    assert normalization("scale", "[58.4, 57.1, 57.4]") == (58.4, 57.1, 57.4)
    recipe = orc.Recipe(mean="[123.675,116.28,103.53]", scale="[58.395]")
    assert recipe.mean == (123.675, 116.28, 103.53) and recipe.scale == (58.395,)


def test_cli_takes_brackets_for_shape_mean_and_scale(tmp_path):
    out = tmp_path / "dog_xai.xml"
    brackets = ("--input-shape", "[1,160,160,3]", "--mean", "[127.5,127.5,127.5]", "--scale", "[127.5]", "--rgb")
    result = run("patch", DOG_MODEL, "-o", out, *brackets)
    assert result.returncode == 0, result.stderr
    assert "RGB, (x - [127.5 127.5 127.5]) / [127.5], NHWC" in result.stdout
    patched = ov.Core().read_model(out)
    assert patched.input(0).get_partial_shape().to_string() == "[1,160,160,3]"
    bad = run("inspect", DOG_MODEL, "--input-shape", "[1,160,x,3]")
    assert bad.returncode == 2 and "expected sizes like 1,3,224,224 or [1,224,224,3]" in bad.stderr


def _lines(stderr: str, label: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"{label}: ")]


def test_a_long_run_into_a_log_says_how_far_it_is(tmp_path):
    """stderr to a pipe, as under nohup or CI: plain lines with the count, the pace and the time left."""
    env = os.environ | {INTERVAL_ENV: "0"}
    args = ["explain", CORAL, SAMPLES / "openimages", "-o", tmp_path / "out", "--no-report"]
    done = subprocess.run([sys.executable, "-m", "ov_reciprocam", *map(str, args)], capture_output=True, text=True,
                          env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines, n = _lines(done.stderr, "explaining"), len(collect_images(SAMPLES / "openimages"))
    assert lines[0] == f"explaining: {n} photos", done.stderr
    assert re.fullmatch(rf"explaining: 1/{n} photos \([\d.]+(/s| s each), about [\d.]+ s left\)", lines[1]), lines
    assert lines[-1].startswith(f"explaining: {n}/{n} photos (") and lines[-1].endswith(", done)")
    assert "\r" not in done.stderr  # no bar drawn into the log


def test_a_long_run_on_a_terminal_shows_a_bar_with_an_estimate_from_the_first_photo(tmp_path):
    reader, writer = pty.openpty()
    args = ["explain", CORAL, SAMPLES / "openimages", "-o", tmp_path / "out", "--no-report"]
    process = subprocess.Popen([sys.executable, "-m", "ov_reciprocam", *map(str, args)], stdout=subprocess.PIPE,
                               stderr=writer)  # fmt: skip
    os.close(writer)
    drawn = b""
    while True:
        try:
            chunk = os.read(reader, 4096)
        except OSError:  # the terminal's last writer left
            break
        if not chunk:
            break
        drawn += chunk
    os.close(reader)
    assert process.wait() == 0
    text = drawn.decode()
    n = len(collect_images(SAMPLES / "openimages"))
    assert "explaining" in text and f"1/{n}" in text
    first = text[text.index(f"1/{n}") :].split("\r")[0]
    assert re.search(r"about [\d.]+ s left", first), first


def _taken(evaluator: Evaluator) -> int:
    """The model inputs one photo takes, counted as the black box runs them (a Recipro-CAM map counts one)."""
    before = evaluator.box.images_run
    evaluator.evaluate(BIRD)
    return evaluator.box.images_run - before


def test_eval_cost_counts_every_model_input():
    """The inputs `cost` announces are the inputs a photo then takes; Score-CAM's, at most (it skips flat maps)."""
    exact = Evaluator(eval_settings(CORAL, methods="reciprocam,reciprocam-gaussian,rise", steps=4, rise_masks=40))
    cost = exact.cost()
    assert cost.inputs == {"reciprocam": 2 + 1 + 2 * 5, "reciprocam-gaussian": 13, "rise": 2 * 40 + 1 + 2 * 5}
    assert cost.shared == 2 and cost.seconds > 0
    assert _taken(exact) == cost.per_photo
    ceiling = Evaluator(eval_settings(CORAL, methods="scorecam", steps=4))
    assert 0 < _taken(ceiling) <= ceiling.cost().per_photo == 2 + 2 * (1 + 256) + 1 + 2 * 5  # 256 activation maps


def test_eval_defaults_to_the_fast_methods_and_says_the_cost_first(tmp_path):
    assert DEFAULT_METHODS == ("reciprocam", "reciprocam-logits")
    out = tmp_path / "report"
    done = run("eval", CORAL, BIRD, "-o", out, "--steps", "4", "--no-report")
    assert done.returncode == 0, done.stderr
    (cost,) = [line for line in done.stderr.splitlines() if line.startswith("cost ")]
    assert re.fullmatch(
        r"cost +1 photo x 28 model inputs a photo \(reciprocam 13, reciprocam-logits 13; 2 to pick the class\): "
        r"about [\d.]+ (s|min)[\d s]* a photo, .* in all",
        cost,
    ), cost
    assert done.stderr.index("cost ") < done.stderr.index("evaluating:")
    (image,) = json.loads((out / "metrics.json").read_text())["images"]
    assert list(image["methods"]) == list(DEFAULT_METHODS)


def test_eval_baselines_is_one_flag_away(tmp_path):
    out = tmp_path / "report"
    done = run("eval", CORAL, BIRD, "-o", out, "--steps", "2", "--baselines", "--rise-masks", "20", "--no-report")
    assert done.returncode == 0, done.stderr
    assert "scorecam up to " in done.stderr and "rise 47" in done.stderr
    (image,) = json.loads((out / "metrics.json").read_text())["images"]
    assert list(image["methods"]) == list(DEFAULT_METHODS + BASELINES)


def test_json_file_or_stdout_in_bench_and_compare(tmp_path):
    timed = run("bench", CORAL, "--seconds", "0.3", "--json", tmp_path / "bench.json")
    assert timed.returncode == 0, timed.stderr
    assert "plain ms" in timed.stdout  # a file keeps the table
    assert json.loads((tmp_path / "bench.json").read_text())["results"][0]["batch"] == 1
    printed = run("bench", CORAL, "--seconds", "0.3", "--json", "-")
    assert printed.returncode == 0 and json.loads(printed.stdout)["results"][0]["batch"] == 1
    compared = run("compare", CORAL, CORAL, BIRD, "--json", "-")
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout)["summary"]["top1_agree"] == 1
    into_file = run("compare", CORAL, CORAL, BIRD, IMAGES / "both.png", "--json", tmp_path / "f.json")
    assert into_file.returncode == 0 and "mean pearson" in into_file.stdout
    assert len(json.loads((tmp_path / "f.json").read_text())["images"]) == 2
