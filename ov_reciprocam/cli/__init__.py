"""The `ov-reciprocam` command: a thin click layer over the Python API, one module per command group."""

from __future__ import annotations

import sys

import click

from .. import __version__
from ..errors import ReciproCamError


class _OneLineErrors(click.Group):
    """Turn every failure into one `Error: ...` line and exit code 1; --debug shows the traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            raise  # the reader left (`| head`): click's main exits quietly
        except ReciproCamError as exc:
            if exc.detail and ctx.obj and ctx.obj.get("debug"):
                click.echo(exc.detail, err=True)
            raise click.ClickException(str(exc)) from None
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from ..model.formats import first_line

            message = f"{type(exc).__name__}: {first_line(exc)} (rerun with --debug for details)"
            raise click.ClickException(message) from None


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ov-reciprocam")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors, and what OpenVINO said.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Recipro-CAM saliency maps for OpenVINO classifiers, computed inside the model.

    \b
    ov-reciprocam patch model.xml            # add a saliency_map output -> model_xai.xml
    ov-reciprocam explain model.xml photos/  # overlays, maps and results.json
    """
    ctx.obj = {"debug": debug}


def _register() -> None:
    from . import explaining, measuring, modeling

    for module in (modeling, explaining, measuring):
        for command in module.COMMANDS:
            main.add_command(command)


_register()

if __name__ == "__main__":
    sys.exit(main())
