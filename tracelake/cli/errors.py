"""The one place the ``tracelake`` command turns an error into a message and an exit code.

- :class:`tracelake.errors.TracelakeError` (any stage's, any subclass):
  ``tracelake: error: <message>`` on stderr, exit ``exc.exit_code`` (2);
- click's usage errors (unknown option or command, missing or bad value):
  one line with a pointer to the subcommand's ``--help``, exit 2; click's
  other errors (e.g. an unreadable file argument): one line, their exit code;
- Ctrl-C outside a command that handles it: ``tracelake: aborted``, 130.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import click

from tracelake.errors import TracelakeError

PREFIX = "tracelake: error: "


def run(group: click.Group, argv: list[str] | None) -> int:
    """Run the command line ``argv`` (None: ``sys.argv``) and return the exit code.

    ``sys.exit`` inside a command (``validate``'s 1, a canary verdict)
    passes through as ``SystemExit``.
    """
    try:
        group.main(args=argv, prog_name="tracelake", standalone_mode=False)
    except TracelakeError as exc:
        click.echo(PREFIX + exc.message, err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("tracelake: aborted", err=True)
        return 130
    except click.UsageError as exc:
        sub = exc.ctx.command_path.partition(" ")[2] if exc.ctx else ""
        hint = f" (see 'tracelake {sub} --help')".replace("  ", " ")
        click.echo(f"{PREFIX}{exc.format_message()}{hint}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(PREFIX + exc.format_message(), err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return 0
