"""The ``scratchcnn`` command line: ``train``, ``evaluate``, ``predict``, ``summary``, ``datasets``, ``bench``, ...

The CLI is thin: every verb parses options, calls one library function and prints. With ``--json`` a verb prints
exactly one JSON object on stdout (progress and logs go to stderr). Any error is one line on stderr and exit
code 2; ``scratchcnn --debug <verb> ...`` shows the traceback instead.
"""
from __future__ import annotations

import sys
from typing import Sequence

import click

from ._common import one_line

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="scratchcnn", prog_name="scratchcnn")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Convolutional networks from scratch on NumPy: train, evaluate and use the seeds' MNIST models."""
    ctx.obj = {"debug": debug}


def _register() -> None:
    from .datasets import datasets
    from .evaluate import evaluate
    from .predict import predict
    from .summary import summary
    from .train import train
    from .text import predict_text, train_text
    from .finetune import finetune, finetune_compare
    from .explain import explain
    from .visualize import visualize
    from .report import report
    from .bench import bench
    from .export import export
    for cmd in (train, evaluate, predict, summary, datasets, train_text, predict_text, finetune, finetune_compare,
                explain, visualize, report, bench, export):
        cli.add_command(cmd)


_register()


def _debug_requested(args: Sequence[str]) -> bool:
    """``--debug`` given before the verb (the group option)."""
    for a in args:
        if a == "--debug":
            return True
        if not a.startswith("-"):
            return False
    return False


def _click_line(exc: click.ClickException) -> str:
    """A usage error as one line that names the option (``Invalid value for '--rounds': ...``) and the help."""
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.exceptions.NoArgsIsHelpError) and ctx is not None \
            and isinstance(ctx.command, click.Group):
        # a group without its command: name the choices, not the whole help text squeezed into one line
        return (f"missing command; choose one of {', '.join(ctx.command.list_commands(ctx))} "
                f"(see '{ctx.command_path} --help')")
    msg = " ".join(exc.format_message().split())
    if isinstance(exc, click.UsageError) and ctx is not None:
        msg += f" (see '{ctx.command_path} --help')"
    return msg


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (``scratchcnn`` and ``python -m scratchcnn``); returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug_requested(args)
    from ..backend import tune_malloc
    tune_malloc()  # an application may make this process-wide choice; the library itself never does
    try:
        rv = cli.main(args=args, prog_name="scratchcnn", standalone_mode=False)
    except click.exceptions.Abort:
        click.secho("error: interrupted", err=True, fg="red")
        return 130
    except click.ClickException as exc:
        if debug:
            raise
        click.secho(f"error: {_click_line(exc)}", err=True, fg="red")
        return 2
    except KeyboardInterrupt:
        click.secho("error: interrupted", err=True, fg="red")
        return 130
    except Exception as exc:  # every library error becomes one line (the traceback with --debug)
        if debug:
            raise
        click.secho(f"error: {one_line(exc)}", err=True, fg="red")
        return 2
    return rv if isinstance(rv, int) else 0
