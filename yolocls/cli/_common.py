"""What every command shares: user-error handling and small printing helpers.

User errors (:class:`yolocls.errors.YoloclsError`, missing files) print one line on stderr and exit 2,
never a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import functools
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import typer
import typer.core

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` as one line on stderr and return the Exit to raise."""
    first = " ".join(str(message).split())  # one line
    typer.echo(f"yolocls: error: {first}", err=True)
    return typer.Exit(code)


class Terminated(KeyboardInterrupt):
    """SIGTERM raised like Ctrl-C, so every ``finally`` (temp-file removal) runs; see :func:`sigterm_as_interrupt`."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def sigterm_as_interrupt() -> None:
    """Make SIGTERM unwind the command like SIGINT (temp files removed, one line, exit 143). Main thread only."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


def user_errors(func: F) -> F:
    """Decorator for command functions: turn user errors into one line + exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from yolocls.errors import YoloclsError

        try:
            return func(*args, **kwargs)
        except YoloclsError as e:
            raise fail(str(e)) from None
        except FileNotFoundError as e:
            raise fail(f"file not found: {e.filename or e}; check the path") from None
        except IsADirectoryError as e:
            raise fail(f"expected a file but got a folder: {e.filename}") from None
        except PermissionError as e:
            raise fail(f"permission denied: {e.filename or e}") from None
        except OSError as e:  # disk full, read-only, name too long, ... outside yolocls' own writers
            from yolocls.utils.files import USER_ERRNOS, describe_os_error

            if e.errno not in USER_ERRNOS:
                raise
            action = "write" if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else "use"
            raise fail(describe_os_error(e, e.filename or "a file", action)) from None
        except Terminated:
            typer.echo("yolocls: terminated (SIGTERM); nothing partial was left behind", err=True)
            raise typer.Exit(143) from None
        except KeyboardInterrupt:
            typer.echo("yolocls: interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def print_json(obj: Any) -> None:
    """``--json``: the result as JSON on stdout."""
    import json

    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def save_json_file(obj: Any, path: str | Path) -> Path:
    """``--save-json FILE``: the same JSON that ``--json`` prints, written atomically to ``path``."""
    import json

    from yolocls.utils.files import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(obj, indent=2, default=str) + "\n")
    return path


def openvino_hint(precision: Any) -> str | None:
    """``--precision`` (a :class:`yolocls.cli._options.Precision`) as OpenVINO's inference hint; int8 is refused
    in one line (it is a property of the model file, not a setting of the runtime)."""
    if precision is None:
        return None
    from yolocls.cli._options import OPENVINO_HINT, Precision
    from yolocls.errors import InputError

    p = Precision(precision)
    if p not in OPENVINO_HINT:
        raise InputError("--precision int8 is a property of the model file, not a runtime setting: export one with "
                         "`yolocls export --int8` (<stem>.int8.onnx) and pass that file")
    return OPENVINO_HINT[p]


# -- usage errors (typer/click): the same one line as every other user error -------------------------------------------

# typer >= 0.20 vendors click as typer._click; older typer uses click itself: take the classes from where
# typer.BadParameter lives, so both work.
_click_exc: Any = importlib.import_module(typer.BadParameter.__module__)
_BOOL_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0", "y", "n", "t", "f"})


def _opt_name(param: Any) -> str:
    opts = list(getattr(param, "opts", None) or [])
    longs = [o for o in opts if o.startswith("--")]
    return (longs or opts or [str(getattr(param, "name", "?"))])[0]


def _given(args: Sequence[str], param: Any) -> str | None:
    """The value the user gave for option ``param`` (or an option name; the last one, as click keeps), or None."""
    opts = [param] if isinstance(param, str) else (list(getattr(param, "opts", None) or [])
                                                   + list(getattr(param, "secondary_opts", None) or []))
    found = None
    for i, a in enumerate(args):
        for o in opts:
            if a == o and i + 1 < len(args):
                found = args[i + 1]
            elif a.startswith(o + "="):
                found = a[len(o) + 1:]
    return found


def _accepted(param: Any) -> str | None:
    """'an integer >= 8', 'one of val, test', ... from the parameter's type, range or choices (typer's and click's
    spellings)."""
    ann = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    ptype = getattr(param, "type", None)
    import enum
    import typing

    inner = next((a for a in typing.get_args(ann) if isinstance(a, type)), ann)  # list[Precision] -> Precision
    if isinstance(inner, type) and issubclass(inner, enum.Enum):  # the choices of yolocls.cli._options
        return "one of " + ", ".join(str(m.value) for m in inner)
    choices = getattr(ptype, "choices", None)
    if choices:  # click's Choice (older typer)
        return "one of " + ", ".join(str(getattr(c, "value", c)) for c in choices)
    kind = ann.__name__ if isinstance(ann, type) else str(getattr(ptype, "name", "") or "")
    lo = getattr(param, "min", None)
    hi = getattr(param, "max", None)
    if lo is None and hi is None and ptype is not None:
        lo, hi = getattr(ptype, "min", None), getattr(ptype, "max", None)
    words = {"int": "an integer", "integer": "an integer", "integer range": "an integer", "float": "a number",
             "float range": "a number"}
    what = words.get(kind.lower())
    if what is None:
        return None
    if lo is not None and hi is not None:
        return f"{what} from {lo} to {hi}"
    if lo is not None:
        return f"{what} >= {lo}"
    if hi is not None:
        return f"{what} <= {hi}"
    return what


def _flag_given_a_value(cmd: Any, args: Sequence[str]) -> str | None:
    """'--cos-lr true': a boolean flag followed by a word like true/false (flags take no value)."""
    flags = {o: p for p in getattr(cmd, "params", []) if getattr(p, "is_flag", False)
             for o in list(p.opts) + list(p.secondary_opts)}
    takes_file = {o for p in getattr(cmd, "params", []) for o in getattr(p, "opts", [])}
    for a, b in zip(args, args[1:], strict=False):
        if a in flags and b.lower() in _BOOL_WORDS:
            p = flags[a]
            pair = " or ".join(list(p.opts)[:1] + list(p.secondary_opts)[:1])
            return f"{a} takes no value: write {pair}, not {a} {b}"
        if a == "--json" and a in flags and not b.startswith("-") and "--save-json" in takes_file:
            return f"--json takes no value (it prints the JSON on stdout): write --save-json {b} to write a file"
    return None


def usage_error_line(e: Any, args: Sequence[str], group: Any = None, prog: str = "yolocls") -> str:
    """One line for a typer/click usage error: the option, what was given and what is accepted."""
    ctx = getattr(e, "ctx", None)
    sub = ctx.command_path if ctx is not None else prog
    cmd = getattr(ctx, "command", None)
    if ctx is None or isinstance(cmd, typer.core.TyperGroup):  # name the subcommand when there is one
        commands = getattr(group, "commands", {}) or {}
        name = next((a for a in args if a in commands), None)
        if name is not None:
            sub = f"{ctx.command_path if ctx is not None else prog} {name}"
            cmd = commands[name]
    where = f"`{sub}`"
    help_hint = f"see `{sub} --help`"
    flag_msg = _flag_given_a_value(cmd, list(args)) if cmd is not None else None
    if flag_msg:
        return flag_msg
    msg = " ".join(str(getattr(e, "message", "") or e).split())
    if isinstance(e, _click_exc.NoSuchOption):
        name = getattr(e, "option_name", None) or msg.rsplit(" ", 1)[-1]
        close = sorted(getattr(e, "possibilities", None) or [])
        guess = f" (did you mean {' or '.join(close)}?)" if close else ""
        return f"unknown option {name} for {where}{guess}; {help_hint}"
    if isinstance(e, _click_exc.MissingParameter):
        param = getattr(e, "param", None)
        if param is not None:
            kind = "argument" if getattr(param, "param_type_name", "") == "argument" else "option"
            what = _opt_name(param) if kind == "option" else str(getattr(param, "human_readable_name", param.name))
            hint = getattr(param, "help", None)
            return f"{where} needs the {kind} {what}" + (f" ({hint.rstrip('.')})" if hint else "") + f"; {help_hint}"
    if isinstance(e, _click_exc.BadParameter):
        param = getattr(e, "param", None)
        if param is not None:
            name = _opt_name(param)
            given = _given(args, param)
            accepted = _accepted(param)
            shown = f" {given!r}" if given is not None else ""
            if accepted:
                return f"invalid value{shown} for {name}: must be {accepted}"
            return f"invalid value{shown} for {name}: {msg}"
        hint = getattr(e, "param_hint", None)
        if hint:
            hint = (hint if isinstance(hint, str) else " / ".join(hint)).strip("'")
            given = _given(args, hint)
            return f"invalid value{f' {given!r}' if given is not None else ''} for {hint}: {msg}"
        return msg
    if msg.startswith("No such command"):
        import re

        m = re.match(r"No such command (\S+?)\.?(?:\s+Did you mean (\S+?)\?)?$", msg)
        name = m.group(1) if m else msg.split(" ", 3)[-1]
        guess = f" (did you mean {m.group(2)}?)" if m and m.group(2) else ""
        names = ", ".join(getattr(group, "commands", {}) or [])
        return f"unknown command {name}{guess}; commands: {names}"
    if msg.startswith("Got unexpected extra argument"):
        extra = msg.rsplit("(", 1)[-1].rstrip(")")
        return f"unexpected argument(s) {extra} for {where}; {help_hint}"
    return f"{msg[:1].lower()}{msg[1:]}".rstrip(".") + f"; {help_hint}"


class OneLineErrors(typer.core.TyperGroup):
    """The app's group: typer's and click's usage errors print the one ``yolocls: error: ...`` line (exit 2) that
    every other user error prints, instead of a boxed panel; ``--help`` and command results are unchanged."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, windows_expand_args: bool = True,
             **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False,
                              windows_expand_args=windows_expand_args, **extra)
        except _click_exc.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError" and e.ctx is not None:  # bare `yolocls`: the help
                typer.echo(e.ctx.get_help(), err=True)
                rv = 2
            else:
                prog = prog_name or "yolocls"
                typer.echo(f"yolocls: error: {usage_error_line(e, argv, self, prog)}", err=True)
                rv = 2
        except _click_exc.ClickException as e:
            first = " ".join(str(e.format_message()).split())
            typer.echo(f"yolocls: error: {first}", err=True)
            rv = e.exit_code
        except _click_exc.Abort:
            typer.echo("yolocls: interrupted", err=True)
            rv = 130
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv
