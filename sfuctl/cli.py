"""The `sfuctl` command: operate the SFU appliance.

Commands live in ``sfuctl.commands``, one module each; ``COMMANDS`` below registers them. A module
exposes either ``app`` (a Typer group, e.g. ``rooms``) or ``command`` (a function), and may set
``NAME`` and ``EPILOG``. Imports are explicit so that PyInstaller finds every command.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType

import typer

from sfuctl.commands import (
    bench,
    doctor,
    health,
    nodes,
    record,
    recordings,
    rooms,
    serve,
    token,
    top,
    version,
)
from sfuctl.common import EXIT_CODES_HELP, CliError, ExitCode, print_error

COMMANDS: list[ModuleType] = [
    serve,
    token,
    health,
    rooms,
    nodes,
    record,
    recordings,
    top,
    doctor,
    version,
    bench,
]

app = typer.Typer(
    name="sfuctl",
    help="A self-hosted WebRTC SFU: the real mediasoup worker driven from Python.",
    epilog=f"""[b]Examples[/b]

  sfuctl serve --port 3001 --workers 2

  TOKEN=$(sfuctl token --room lobby --user ada)

  sfuctl health && sfuctl rooms

  sfuctl top

{EXIT_CODES_HELP}""",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def register(parent: typer.Typer, module: ModuleType) -> None:
    name = getattr(module, "NAME", module.__name__.rsplit(".", 1)[-1])
    group = getattr(module, "app", None)
    if isinstance(group, typer.Typer):
        parent.add_typer(group, name=name)
        return
    epilog = getattr(module, "EPILOG", None)
    parent.command(name=name, epilog=f"{epilog}\n\n{EXIT_CODES_HELP}" if epilog else EXIT_CODES_HELP)(
        module.command
    )


for _module in COMMANDS:
    register(app, _module)


def _version_callback(value: bool) -> None:
    if value:
        version.show_version()
        raise typer.Exit()


@app.callback()
def main_options(
    _version: bool = typer.Option(
        False, "--version", "-V", callback=_version_callback, is_eager=True, help="Show versions and exit."
    ),
) -> None:
    """sfuctl: run and operate the SFU."""


DEBUG_ENV = "SFUCTL_DEBUG"
"""Set to 1 to see the traceback of an unexpected error instead of its one line."""


def main() -> None:
    """The entry point: every failure is one `error:` line and a `hint:`, never a traceback.

    Click's own errors (a bad or missing flag, an unknown command) are worded like the commands'
    errors instead of typer's boxed form; anything nobody foresaw is the last resort below.
    """
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        print_error(CliError("aborted", "nothing was changed"))
        sys.exit(int(ExitCode.FAILED))
    except typer.TyperException as error:  # click's usage errors (typer vendors click)
        sys.exit(usage_error(error))
    except Exception as error:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        detail = str(error).splitlines()[0] if str(error) else ""
        name = type(error).__name__
        message = f"unexpected {name}: {detail}" if detail else f"unexpected {name}"
        print_error(
            CliError(message, f"run again with {DEBUG_ENV}=1 for the traceback, and report it as a bug")
        )
        sys.exit(int(ExitCode.FAILED))
    sys.exit(code if isinstance(code, int) else 0)


def usage_error(error: typer.TyperException) -> int:
    """Print a click usage error as one error line and a hint to the command's help; its exit code."""
    code = int(getattr(error, "exit_code", ExitCode.USAGE))
    if type(error).__name__ == "NoArgsIsHelpError":  # the help is already shown (typer does the same)
        return code
    format_message = getattr(error, "format_message", None)
    message = format_message() if callable(format_message) else str(error)
    ctx = getattr(error, "ctx", None)
    path = getattr(ctx, "command_path", "sfuctl") if ctx is not None else "sfuctl"
    print_error(
        CliError(" ".join(str(message).split()), f"`{path} --help` lists the options", ExitCode.USAGE)
    )
    return code
