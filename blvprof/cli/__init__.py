"""The ``blvprof`` command line: one Typer command per verb, each parse → library → render.

Bad input is reported as one line on stderr with exit code 2 (``--debug`` shows the traceback).
"""

import sys
from typing import Annotated

import typer

from blvprof.cli import compare, export, models, profile, report, study, train
from blvprof.errors import describe_out_of_memory, is_out_of_memory

app = typer.Typer(
    name="blvprof",
    help="Measure what efficient video models (bLVNet-TAM and its baselines) cost and buy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    _state["debug"] = debug


for module in (models, profile, compare, train, study, report, export):
    module.register(app)


def _click_errors() -> tuple[tuple[type[Exception], ...], ...]:
    """(exit, abort, usage error) classes: recent Typer vendors click, older Typer uses click."""
    exits: list[type[Exception]] = [typer.Exit]
    aborts: list[type[Exception]] = [typer.Abort]
    usage: list[type[Exception]] = [getattr(typer, "TyperException", typer.BadParameter)]
    try:
        import click

        exits.append(click.exceptions.Exit)
        aborts.append(click.exceptions.Abort)
        usage.append(click.ClickException)
    except ImportError:
        pass
    return tuple(exits), tuple(aborts), tuple(usage)


_EXITS, _ABORTS, _USAGE_ERRORS = _click_errors()


def main() -> None:
    """Entry point: run the app, turning bad input into one line on stderr and exit code 2."""
    try:
        result = app(standalone_mode=False)
    except _EXITS as done:
        sys.exit(getattr(done, "exit_code", 0))
    except _ABORTS:
        print("blvprof: aborted", file=sys.stderr)
        sys.exit(130)
    except _USAGE_ERRORS as error:  # unknown option, bad value, missing argument
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        print(f"blvprof: error: {message}", file=sys.stderr)
        sys.exit(2)
    except (ValueError, OSError) as error:  # UserError, config, data and checkpoint errors
        if _state["debug"]:
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"blvprof: error: {message}", file=sys.stderr)
        sys.exit(2)
    except (RuntimeError, MemoryError) as error:  # torch's allocators: one line, not a traceback
        if _state["debug"] or not is_out_of_memory(error):
            raise
        print(f"blvprof: error: {describe_out_of_memory(error)}", file=sys.stderr)
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)
