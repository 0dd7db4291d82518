"""The `ov-reciprocam` command: a thin click layer over the Python API."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .errors import ReciproCamError


class _OneLineErrors(click.Group):
    """Turn every failure into one `Error: ...` line and exit code 1; --debug shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ReciproCamError as exc:
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from .loading import first_line

            message = f"{type(exc).__name__}: {first_line(exc)} (rerun with --debug for details)"
            raise click.ClickException(message) from None


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ov-reciprocam")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Recipro-CAM saliency maps for OpenVINO classifiers, computed inside the model."""
    ctx.obj = {"debug": debug}


def _shape(output) -> str:
    return str(output.get_partial_shape()).replace(" ", "")


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output IR .xml [default: MODEL_xai.xml].")
@click.option("--target", metavar="NAME", help="Feature map to explain, by node or tensor name [default: auto].")
@click.option(
    "--score",
    type=click.Choice(["softmax", "logits"]),
    default="softmax",
    show_default=True,
    help="Score each masked copy by class probability (paper) or raw logit.",
)
@click.option(
    "--normalize/--no-normalize",
    default=True,
    show_default=True,
    help="Min-max scale each map to [0, 1] per image and class.",
)
@click.option("--uint8", is_flag=True, help="Emit maps as uint8 in [0, 255].")
@click.option("--batch", type=int, metavar="N|-1", help="Set the input batch before patching; -1 makes it dynamic.")
@click.option(
    "--fp16/--fp32",
    default=False,
    show_default=True,
    help="Compress FP32 weights to FP16 on save (changes the original outputs slightly).",
)
def patch(model: Path, output: Path | None, target, score, normalize, uint8, batch, fp16) -> None:
    """Add a `saliency_map` output to MODEL (.xml, .onnx, ...) and save it as IR."""
    from .loading import save_model
    from .patch import RT_KEY
    from .patch import patch as patch_model

    output = output or model.with_name(f"{model.stem}_xai.xml")
    patched = patch_model(model, target=target, score=score, normalize=normalize, uint8=uint8, batch=batch)
    save_model(patched, output, compress_to_fp16=fp16)
    info = {key: patched.get_rt_info([RT_KEY, key]).astype(str) for key in ("target", "layout", "feature_shape")}
    outputs = ", ".join(f"{o.get_any_name()} {_shape(o)}" for o in patched.outputs)
    click.echo(f"target    {info['target']} ({info['layout']}, {info['feature_shape'].replace(',', 'x')})")
    click.echo(f"classes   {patched.get_rt_info([RT_KEY, 'classes']).astype(str)}, scored by {score}")
    click.echo(f"outputs   {outputs}")
    click.echo(f"saved     {output}")


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
def inspect(model: Path) -> None:
    """List the feature maps MODEL could be explained at, marking the one auto mode picks."""
    from .loading import read_model
    from .locate import locate

    loaded = read_model(model)
    located = locate(loaded)
    scores = loaded.outputs[located.output_index]
    click.echo(
        f"class scores  {scores.get_any_name()} {_shape(scores)}"
        f" ({'softmax inside; tail ends at its input' if located.has_softmax else 'no softmax'})"
    )
    click.echo("candidate targets (on every path to the scores, input to output):")
    width = max(len(c.name) for c in located.candidates)
    for c in located.candidates:
        mark = "  <- auto" if c.name == located.target.name else ""
        names = f"  tensors: {', '.join(c.tensor_names)}" if c.tensor_names else ""
        click.echo(f"  {c.name:<{width}}  {c.layout} {c.channels}x{c.height}x{c.width}{names}{mark}")


if __name__ == "__main__":
    sys.exit(main())
