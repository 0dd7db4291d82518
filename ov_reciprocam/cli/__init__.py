"""The `ov-reciprocam` command: a thin click layer over the Python API, one module per command group."""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from ..errors import ReciproCamError
from ..version import __version__


class _UsageLine(click.ClickException):
    """A flag or argument click refused, as one line; exit code 2, as click's own usage errors."""

    exit_code = 2


class _OneLineErrors(click.Group):
    """Turn every failure into one `Error: ...` line and exit code 1; --debug shows the traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # click prints usage, a hint and a blank line before its error: one line
            where = exc.ctx.command_path if exc.ctx else "ov-reciprocam"
            raise _UsageLine(f"{exc.format_message()} (see {where} --help)") from None
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            raise  # the reader left (`| head`): click's main exits quietly
        except ReciproCamError as exc:
            debug = bool(ctx.obj and ctx.obj.get("debug"))
            if exc.detail and debug:
                click.echo(exc.detail, err=True)
            message = as_flags(str(exc), ctx)
            if exc.detail and not debug:
                message += " (--debug shows what OpenVINO said)"
            raise click.ClickException(message) from None
        except OSError as exc:  # one no check of ours turned into words: its cause and file, not `[Errno 28]`
            if ctx.obj and ctx.obj.get("debug"):
                raise
            where = f": {exc.filename}" if exc.filename else ""
            message = f"{exc.strerror or type(exc).__name__}{where} (rerun with --debug for details)"
            raise click.ClickException(message) from None
        except Exception as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            from ..model.formats import first_line

            message = f"{type(exc).__name__}: {first_line(exc)} (rerun with --debug for details)"
            raise click.ClickException(message) from None


def as_flags(message: str, ctx: click.Context) -> str:
    """A library message in the command's words: each `option` it names becomes the flag that sets it.

    The invoked command's own flags first, then any command's (`ray` is explain's --ray).
    """
    name = ctx.invoked_subcommand
    subcommands = ctx.command.commands if isinstance(ctx.command, click.Group) else {}
    commands = [subcommands[name]] if name is not None and name in subcommands else []
    commands += list(subcommands.values())

    def flag(match: re.Match[str]) -> str:
        option = match.group(1)
        spelled = "--" + option.replace("_", "-")
        for command in commands:
            for param in command.params:
                if isinstance(param, click.Option) and (param.name == option or spelled in param.opts):
                    return max(param.opts, key=len) if spelled not in param.opts else spelled
        return match.group(0)

    return re.sub(r"`([a-z][a-z_]*)`", flag, message)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ov-reciprocam")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors, and what OpenVINO said.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Recipro-CAM saliency maps for OpenVINO classifiers, computed inside the model.

    Every command's --help has examples on the sample model and photos (run them from the repository):

    \b
      # add a saliency_map output, with the recipe and labels in rt_info -> out/dog_xai.xml
      ov-reciprocam patch samples/models/dog_breeds_mobilenetv2/dog_breeds_mobilenetv2.xml -o out/dog_xai.xml \\
          --mean 127.5 --scale 127.5 --rgb --interpolation cubic \\
          --labels samples/models/dog_breeds_mobilenetv2/labels.txt
      # overlays, maps, contact sheets, results.json and report.html
      ov-reciprocam explain out/dog_xai.xml samples/images -o out/explained
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
