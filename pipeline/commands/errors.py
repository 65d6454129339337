"""How commands report bad input: one line on stderr, exit status 2, a traceback only with --debug."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

settings = {"debug": False}

# Errors that describe the user's input or files; anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError, ArithmeticError)


@contextmanager
def one_line_errors() -> Iterator[None]:
    try:
        yield
    except USER_ERRORS as error:
        if settings["debug"]:
            raise
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
