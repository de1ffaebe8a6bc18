"""The command line's shared pieces: a parser whose errors take one line, value types, exit handling."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

from utils import UsageError, is_disk_full


def exit_with(main: Callable[[], int]) -> None:
    """sys.exit(main()), quietly when the reader of stdout went away (`python run.py --dry-run | head`)."""
    try:
        code = main()
        sys.stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's documented recipe
        code = 1
    sys.exit(code)


class DefaultsFormatter(argparse.HelpFormatter):
    """--help shows a flag's default where it has one and its help does not already say it.

    argparse's ArgumentDefaultsHelpFormatter appends "(default: None)" to every flag without a default,
    and a second default to a help text that states its own.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        # `is`, not `in`: 0.0 == False, and a default of 0 is worth showing (--gpus-per-run)
        if (any(action.default is no_default for no_default in (None, False, argparse.SUPPRESS))
                or "default" in text or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line, exit code 2, and shows defaults once."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, formatter_class=DefaultsFormatter, **kwargs)

    def error(self, message: str):
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


class Refused(argparse.Action):
    """A flag that does nothing here (another script's): refused with one line saying where it belongs, never
    silently ignored. Hidden from --help; its dest keeps `default`, so code shared with that script still reads it."""

    def __init__(self, option_strings: list[str], dest: str, why: str = "", **kwargs):
        super().__init__(option_strings, dest, nargs="*", help=argparse.SUPPRESS, **kwargs)
        self.why = why

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string}: {self.why}")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _number(text: str) -> float:
    try:
        return plain_zero(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def plain_zero(value: float) -> float:
    """-0.0 as 0.0: equal values, but JSON writes them apart, so `--weight-decay -0` would name another run than 0."""
    return 0.0 if value == 0 else value


def non_negative_float(text: str) -> float:
    value = _number(text)
    if not 0 <= value < float("inf"):  # NaN fails both comparisons
        raise argparse.ArgumentTypeError(f"must be 0 or a positive number, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def check_writable(path: str, flag: str, create: bool = True) -> None:
    """UsageError unless `path` is (or can be made) a writable directory; with create=False nothing is written."""
    if not create:
        existing = next(p for p in [Path(path), *Path(path).absolute().parents] if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            why = "Not a directory" if not existing.is_dir() else "Permission denied"
            raise UsageError(f"{flag} {path} is not a writable directory ({why})")
        return
    probe = Path(path) / f".write-test-{time.time_ns()}"
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        probe.touch()
        probe.unlink()
    except OSError as e:
        if is_disk_full(e):
            raise
        raise UsageError(f"{flag} {path} is not a writable directory ({e.strerror or type(e).__name__})") from None
