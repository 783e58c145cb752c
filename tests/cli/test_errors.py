"""The one CLI mapping of the error hierarchy (tracelake/cli/errors.py): one stderr line, the class's exit code."""

from __future__ import annotations

import click
import pytest

from tracelake import errors
from tracelake.cli.errors import run
from tracelake.queries.engine import QueryTimeout
from tracelake.queries.sandbox import SqlRefused

CLASSES = [errors.TracelakeError, errors.UserError, errors.ConfigError, errors.Unauthorized, errors.Forbidden,
           errors.NotFound, errors.TooLarge, errors.Refused, errors.Busy, errors.Unavailable, errors.TimedOut,
           SqlRefused]


def group_raising(exc: BaseException) -> click.Group:
    @click.group()
    def cli() -> None:
        pass

    @cli.command()
    def boom() -> None:
        click.echo("partial output")
        raise exc

    return cli


@pytest.mark.parametrize("kind", CLASSES, ids=[c.__name__ for c in CLASSES])
def test_each_class_is_one_line_and_its_exit_code(kind: type[errors.TracelakeError],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = run(group_raising(kind("what is wrong; how to fix it")), ["boom"])
    out, err = capsys.readouterr()
    assert code == kind.exit_code == 2
    assert err == "tracelake: error: what is wrong; how to fix it\n"
    assert out == "partial output\n"


def test_a_stage_subclass_keeps_its_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(group_raising(QueryTimeout("success_rate", 2)), ["boom"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracelake: error: query 'success_rate' exceeded its time limit of 2 s")
    assert len(err.splitlines()) == 1


def test_exit_code_comes_from_the_class(capsys: pytest.CaptureFixture[str]) -> None:
    class Odd(errors.Unavailable):
        exit_code = 4

    assert run(group_raising(Odd("x")), ["boom"]) == 4
    assert capsys.readouterr().err == "tracelake: error: x\n"


def test_usage_errors_point_at_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(group_raising(errors.UserError("unused")), ["boom", "--nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tracelake: error: No such option") and "'tracelake boom --help'" in err
    assert len(err.splitlines()) == 1


def test_a_bug_keeps_its_traceback() -> None:
    with pytest.raises(ZeroDivisionError):
        run(group_raising(ZeroDivisionError("bug")), ["boom"])
