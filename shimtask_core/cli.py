"""The ``shimtask`` command: parse, call the library, print.

A user error prints one line (``shimtask: error: ...``) and exits 1; ``--debug``
shows the traceback. Everything here is callable from Python without the CLI.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .errors import EXIT_UNWRITTEN, ShimTaskError, TemplateError, Terminated, UsageError

if TYPE_CHECKING:
    import argparse

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70

_DESCRIPTION = """\
Run Flyte task templates without their Python source. The executor named in the
template's custom["executor_type"] (or its type) is found among the installed
plugins (entry-point group 'shimtask.executors') and run.
"""


def _build_parser() -> argparse.ArgumentParser:
    import argparse  # not for `execute` as Flyte runs it: see _execute_args

    parser = argparse.ArgumentParser(prog="shimtask", description=_DESCRIPTION,
                                     epilog=_EXAMPLES, formatter_class=_formatter())
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show tracebacks for errors (before or after the command)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_execute_parser(commands)
    _add_run_parser(commands)
    _add_plugins_parser(commands)
    _add_serve_parser(commands)
    _debug_after_the_command(parser)
    return parser


_EXAMPLES = """\
examples:
  shimtask plugins list
  shimtask run task.json -i country=Japan -i min_population=1000000
  shimtask run task.pb --inputs-json inputs.json --json
  shimtask execute --inputs inputs.pb --output-prefix out/ --template task.pb
  shimtask COMMAND --help
"""


def _formatter() -> type[argparse.HelpFormatter]:
    """argparse's formatter, except that an ``examples:`` epilog keeps its lines."""
    import argparse

    class Formatter(argparse.HelpFormatter):
        def _fill_text(self, text: str, width: int, indent: str) -> str:
            if text.startswith("examples:"):
                return "".join(indent + line for line in text.splitlines(keepends=True))
            return super()._fill_text(text, width, indent)

    return Formatter


def _debug_after_the_command(parser: argparse.ArgumentParser) -> None:
    """``shimtask run ... --debug`` as well as ``shimtask --debug run ...``: every
    subcommand accepts it (not shown in its help: the top level documents it)."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                                 help=argparse.SUPPRESS)
                _debug_after_the_command(sub)


def build_parser() -> argparse.ArgumentParser:
    """The ``shimtask`` argument parser: the docs' CLI reference is rendered from it."""
    return _build_parser()


_EXECUTE_EXAMPLES = """\
examples:
  shimtask execute --inputs inputs.pb --output-prefix out/ --template task.pb
  shimtask execute --inputs s3://b/run/inputs.pb --output-prefix s3://b/run \\
      --raw-output-data-prefix s3://b/raw -- s3://b/task.pb
"""


def _add_execute_parser(commands: Any) -> None:
    import argparse

    ex = commands.add_parser(
        "execute",
        help="run a template as a Flyte container task (inputs.pb -> outputs.pb/error.pb)",
        formatter_class=_formatter(), epilog=_EXECUTE_EXAMPLES,
        description="The Flyte container contract. Reads the inputs LiteralMap and the "
        "template, runs its executor and writes OUTPUT_PREFIX/outputs.pb, or "
        "OUTPUT_PREFIX/error.pb with origin USER or SYSTEM. Also accepts pyflyte-execute's "
        "form: ... -- TEMPLATE_PATH [EXECUTOR]. URIs may be local paths, file://, or any "
        "fsspec protocol installed (s3://, gs://, ...).",
    )
    ex.add_argument("--inputs", required=True, metavar="URI", help="the inputs.pb LiteralMap")
    ex.add_argument("--output-prefix", required=True, metavar="URI",
                    help="where outputs.pb or error.pb is written")
    ex.add_argument("--raw-output-data-prefix", metavar="URI",
                    help="where offloaded data (files, datasets) is written (default: "
                    "OUTPUT_PREFIX/raw)")
    ex.add_argument("--template", metavar="URI",
                    help="the TaskTemplate (.pb or protobuf-JSON); or give it after --")
    ex.add_argument("--checkpoint-path", metavar="URI",
                    help="where the executor may write a checkpoint (Flyte's "
                    "{{.checkpointOutputPrefix}}; ExecutionContext.checkpoint_path)")
    ex.add_argument("--prev-checkpoint", metavar="URI",
                    help="the previous attempt's checkpoint, to resume from (Flyte's "
                    "{{.prevCheckpointPrefix}}; ExecutionContext.prev_checkpoint)")
    ex.add_argument("--resolver", metavar="VALUE", help=argparse.SUPPRESS)
    for ignored in ("--dynamic-addl-distro", "--dynamic-dest-dir"):
        ex.add_argument(ignored, metavar="VALUE", help=argparse.SUPPRESS)
    ex.add_argument("--test", action="store_true", help=argparse.SUPPRESS)
    ex.add_argument("--exit-zero-on-error", action="store_true",
                    default=None,  # then SHIMTASK_EXIT_ZERO_ON_ERROR decides
                    help="exit 0 after writing error.pb, as pyflyte-execute does "
                    "(env SHIMTASK_EXIT_ZERO_ON_ERROR=1)")
    ex.add_argument("--timeout", metavar="SECONDS",
                    help="time limit of the whole execution; past it error.pb says Timeout "
                    "(SYSTEM, RECOVERABLE) and the exit status is 1 (env "
                    "SHIMTASK_EXECUTION_TIMEOUT; default: none, propeller enforces the "
                    "template's own metadata.timeout)")
    ex.add_argument("-v", "--verbose", action="store_true",
                    help="one line per phase on stderr: template, executor (distribution "
                    "and version), inputs, duration, what was written where "
                    "(env SHIMTASK_LOG_LEVEL=INFO)")
    ex.add_argument("rest", nargs="*", metavar="TEMPLATE_PATH [EXECUTOR]",
                    help="pyflyte-execute's trailing arguments (after --)")


def _add_run_parser(commands: Any) -> None:
    run = commands.add_parser(
        "run", help="run a template locally and print its outputs",
        formatter_class=_formatter(), epilog=_RUN_EXAMPLES,
        description="Run a template file (.pb or protobuf-JSON .json; a TaskSpec as pyflyte "
        "package writes them runs as its template) on this machine. "
        "Inputs are read by their declared type, from -i text and --inputs-json alike: "
        "-i n=7 is an integer for an integer input; datetimes are ISO 8601, durations "
        "seconds or 1h30m; lists, dicts and dataclasses are given as JSON; an optional "
        "value takes its bare text. Local files and directories are passed by path. What "
        "the executor prints goes to stderr: stdout holds the result.",
    )
    run.add_argument("template", metavar="TEMPLATE", help="template file or URI")
    run.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE",
                     help="an input value (repeatable)")
    run.add_argument("--inputs-json", metavar="FILE",
                     help="a JSON object of inputs by name (-i values override it)")
    run.add_argument("--json", action="store_true",
                     help="print the outputs as one JSON object (RFC 8259: NaN and infinities "
                     "are the strings \"NaN\", \"Infinity\", \"-Infinity\")")
    run.add_argument("--raw-output-data-prefix", metavar="URI",
                     help="where file, directory and dataset outputs are written (default: a "
                     "new directory, named on stderr when it holds files or directories; "
                     "datasets are printed and removed)")


_RUN_EXAMPLES = """\
examples:
  shimtask run task.json -i country=Japan -i min_population=1000000
  shimtask run task.pb --inputs-json inputs.json --json
  shimtask run task.json -i 'ids=[1, 2, 3]' -i when=2024-05-06T07:08:09Z
  shimtask run task.json -i data=rows.parquet --raw-output-data-prefix out/
"""


def _add_plugins_parser(commands: Any) -> None:
    plugins = commands.add_parser(
        "plugins", help="list, check and index installed executor plugins",
        description="Executor plugins are distributions with entry points in the "
        "'shimtask.executors' group (hook plugins: 'shimtask.plugins'). Policy: SHIMTASK_ALLOW, "
        "SHIMTASK_DENY (globs of executor or distribution names), SHIMTASK_PREFER "
        "(name=dist). Index: SHIMTASK_CACHE_DIR, SHIMTASK_NO_INDEX=1.",
    )
    plugin_commands = plugins.add_subparsers(dest="plugins_command", metavar="SUBCOMMAND")
    listing = plugin_commands.add_parser(
        "list", help="list installed executors without importing them",
        description="One row per executor entry point, read from distribution metadata "
        "(no plugin is imported): its distribution and version, the API range and template "
        "versions its metadata declares ('-': not declared there; 'plugins doctor' shows the "
        "class's), and how the policy treats it (ok, denied, conflict, preferred).")
    listing.add_argument("--json", action="store_true",
                         help="print a JSON list of entries (denied ones included, "
                         "with their status)")
    doctor = plugin_commands.add_parser(
        "doctor", help="import every plugin and report which ones are broken",
        description="Import every entry point in a separate worker process (a plugin that "
        "crashes or exits takes only its own report down) and check it: an executor must be "
        "a ShimTaskExecutor subclass accepting this core's API; a hook plugin must match the "
        "hook specifications. Exits 1 if any is broken or in an unresolved conflict.")
    doctor.add_argument("--json", action="store_true", help="print a JSON list of reports")
    doctor.add_argument("--in-process", action="store_true",
                        help="import in this process instead of a worker (faster, not isolated)")
    doctor.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="how long one plugin may take to import (default 60)")
    index = plugin_commands.add_parser(
        "index", help="show (or rebuild) the persisted index of entry points",
        description="Where the index of entry points is, whether it was up to date and what "
        "it holds. It is rebuilt by itself when a sys.path directory changes (pip install, "
        "uninstall, upgrade); --rebuild forces it (needed only after editing an installed "
        "distribution's metadata in place).")
    index.add_argument("--rebuild", action="store_true", help="rescan and rewrite the index")
    index.add_argument("--json", action="store_true", help="print the index state as JSON")
    new = plugin_commands.add_parser(
        "new", help="write a new executor plugin distribution that installs and tests",
        description="Write a plugin distribution for executor type NAME: a pyproject.toml "
        "declaring the entry point, an executor class, an example template and its inputs, "
        "tests that use shimtask_core.testing (the executor contract suite included) and a "
        "README. 'pip install DIR' and its own 'pytest' pass as generated. NAME is lower "
        "case letters and digits joined by '_' or '-' (the distribution is shimtask-NAME).")
    new.add_argument("name", metavar="NAME", help="the executor type, e.g. 'greet'")
    new.add_argument("--dir", metavar="DIR",
                     help="where to create it (default ./shimtask-NAME); must not exist or "
                     "be empty")


def _version() -> str:
    from .version import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shimtask`` console script; returns the exit status."""
    with _warnings_as_lines():
        try:
            return _main(argv)
        finally:
            if argv is None:  # the console script: nothing runs in-process after us
                _stdout_finished()


def _stdout_finished() -> None:
    """The command has printed its result: point stdout (file descriptor 1) at stderr for
    what runs after it, so ``--json`` stays one JSON document. Plugins' ``atexit`` handlers
    (an exporter that prints its batch at exit) and threads still running print there."""
    try:
        sys.stdout.flush()
        os.dup2(2, 1)
    except (OSError, ValueError):  # a closed pipe or a closed stream: nothing to keep clean
        pass


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """shimtask's own warnings (a malformed SHIMTASK_* value, a hook plugin that does not
    load) as one line each, ``shimtask: warning: ...``, without Python's file and source
    line; any other warning as Python shows it."""
    import warnings

    from .errors import ShimTaskWarning

    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if issubclass(category, ShimTaskWarning):
            print(f"shimtask: warning: {message}", file=file or sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def _main(argv: Sequence[str] | None) -> int:
    args: Any = _execute_args(sys.argv[1:] if argv is None else argv)
    if args is None:
        parser = _build_parser()
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            _unrecognized(parser, args, unknown, sys.argv[1:] if argv is None else argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
    try:
        handler = _HANDLERS[args.command]
        status = handler(args)
    except ShimTaskError as exc:
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"shimtask: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_FAILED
    except Terminated as exc:  # error.pb was written: the signal's conventional status
        if exc.written:
            print(f"shimtask: task stopped by {exc.signame}, wrote {exc.written}",
                  file=sys.stderr)
            status = 128 + exc.signum
        else:
            print(f"shimtask: error: stopped by {exc.signame}, and error.pb could not be "
                  f"written", file=sys.stderr)
            status = EXIT_UNWRITTEN
        if argv is None:
            _exit_now(status)
        return status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"shimtask: internal error: {type(exc).__name__}: {exc} "
              f"(re-run with --debug for the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    if argv is None and args.command == "execute":
        _exit_now(status)
    return status


#: ``execute`` options taking a value, by destination (flytekit's pyflyte-execute set and ours)
_EXECUTE_VALUES = {
    "--inputs": "inputs", "--output-prefix": "output_prefix",
    "--raw-output-data-prefix": "raw_output_data_prefix", "--template": "template",
    "--checkpoint-path": "checkpoint_path", "--prev-checkpoint": "prev_checkpoint",
    "--resolver": "resolver", "--dynamic-addl-distro": "dynamic_addl_distro",
    "--dynamic-dest-dir": "dynamic_dest_dir", "--timeout": "timeout",
}
_EXECUTE_FLAGS = {"--test": "test", "--exit-zero-on-error": "exit_zero_on_error",
                  "--verbose": "verbose", "-v": "verbose"}


def _unrecognized(parser: argparse.ArgumentParser, args: Any, unknown: list[str],
                  argv: Sequence[str]) -> None:
    """Exit 2 as argparse does, but from the subcommand that was given (its usage, not the
    top level's) and with the closest option for a misspelt one (--input-json). An
    option before the subcommand (``shimtask --bogus run``) is the top level's."""
    import argparse
    import difflib

    command = parser
    words = list(argv)
    before = words[:words.index(args.command)] if args.command in words else words
    top_level = any(arg in before for arg in unknown)
    for dest in ("command", "plugins_command") if not top_level else ():
        actions = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or getattr(args, dest, None) not in actions[0].choices:
            break
        command = actions[0].choices[getattr(args, dest)]
    options = [o for action in command._actions for o in action.option_strings
               if action.help != argparse.SUPPRESS]
    hints = [match for arg in unknown if arg.startswith("--")
             for match in difflib.get_close_matches(arg.partition("=")[0], options, 1)]
    hint = f" (did you mean {' or '.join(hints)}?)" if hints else ""
    command.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")


def _execute_args(argv: Sequence[str]) -> Any:
    """``[--debug] execute ...`` exactly as Flyte passes it, parsed without building the
    whole argparse parser (argparse, its help machinery and every subcommand cost a
    few milliseconds of each pod's start). Anything else, or anything unusual (help,
    an unknown or abbreviated option, a missing value), returns None: argparse then
    parses it, and reports what is wrong.
    """
    args = list(argv)
    debug = args[:1] == ["--debug"]
    if debug:
        del args[0]
    if args[:1] != ["execute"]:
        return None
    parsed: dict[str, Any] = dict.fromkeys(_EXECUTE_VALUES.values())
    parsed.update(dict.fromkeys(_EXECUTE_FLAGS.values(), False))
    parsed["exit_zero_on_error"] = None
    rest: list[str] = []
    i = 1
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i + 1:])
            break
        name, eq, value = arg.partition("=")
        if name in _EXECUTE_VALUES:
            if not eq:
                if i + 1 == len(args) or args[i + 1].startswith("--"):
                    return None
                i += 1
                value = args[i]
            parsed[_EXECUTE_VALUES[name]] = value
        elif arg in _EXECUTE_FLAGS:
            parsed[_EXECUTE_FLAGS[arg]] = True
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            rest.append(arg)
        i += 1
    if parsed["inputs"] is None or parsed["output_prefix"] is None:
        return None
    from types import SimpleNamespace

    return SimpleNamespace(command="execute", debug=debug, rest=rest, **parsed)


def _exit_zero_default() -> bool:
    from . import settings

    return settings.switch(settings.EXIT_ZERO_ON_ERROR)


def _exit_now(status: int) -> None:
    """End a finished container execution without the interpreter's full teardown.

    Everything shimtask writes is written synchronously (outputs.pb or error.pb), and
    tearing down protobuf and the plugins' modules would add ~5 ms to every task. What
    plugins registered to run at exit runs first, as at a normal exit: ``atexit``
    handlers (a batching exporter's flush, ``logging.shutdown`` once logging is
    imported, ``weakref.finalize`` clean-ups), then the standard streams are flushed.
    Threads still running are not waited for: a stray one must not keep a finished
    task's pod alive. Only for the console script, never for callers of main()
    in-process; where the interpreter has no way to run the handlers first, it
    returns and the process exits normally.
    """
    import atexit

    run_handlers = getattr(atexit, "_run_exitfuncs", None)  # CPython's own exit step
    count = getattr(atexit, "_ncallbacks", None)
    if run_handlers is None or count is None:
        return
    if count():
        run_handlers()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


# --- execute --------------------------------------------------------------------------


def _rendered(value: str | None) -> str | None:
    """None for an optional argument Flyte left unrendered or empty (propeller renders an
    empty previous checkpoint as the two characters "")."""
    if value is None or value.strip() in ("", '""') or value.strip().startswith("{{"):
        return None
    return value


#: flytekit's resolver for templates run without their Python code (shim tasks).
TEMPLATE_RESOLVER = "default_task_template_resolver"
#: How long an executor may take to stop after SIGTERM before error.pb is written anyway.
STOP_GRACE_SECONDS = 5.0


def _cmd_execute(args: argparse.Namespace) -> int:
    import faulthandler  # built in: a crash (segfault, abort) leaves its Python stack in the log

    from . import logs
    from .runtime import execute, write_error

    faulthandler.enable()
    if args.verbose:
        logs.enable()
    template = args.template or (args.rest[0] if args.rest else None)
    if template is None:
        raise UsageError("no template: give --template URI or '-- TEMPLATE_PATH'")
    if not args.template and args.resolver and not args.resolver.endswith(TEMPLATE_RESOLVER):
        # A flytekit Python task (its code is resolved by module and name): no template.
        result = write_error(args.output_prefix, TemplateError(
            f"this task runs Python code through flytekit's resolver {args.resolver} "
            f"({' '.join(args.rest)}); shimtask runs task templates (shim tasks such as "
            f"SQLite3Task), not Python task code: keep a flytekit image for this task"))
    else:
        exit_zero = args.exit_zero_on_error
        if exit_zero is None:
            exit_zero = _exit_zero_default()
        result = execute(
            inputs=args.inputs,
            output_prefix=args.output_prefix,
            template=template,
            raw_output_prefix=_rendered(args.raw_output_data_prefix),
            checkpoint_path=_rendered(args.checkpoint_path),
            prev_checkpoint=_rendered(args.prev_checkpoint),
            debug=args.debug,
            stop_grace=STOP_GRACE_SECONDS,
            timeout=_timeout_option(args.timeout),
            error_status=EXIT_OK if exit_zero else EXIT_FAILED,
        )
    if result.ok:
        return EXIT_OK
    assert result.error is not None
    first_line = result.error.message.splitlines()[0] if result.error.message else ""
    if not result.written:
        cause = ("" if first_line == result.write_error  # one cause (a missing package): once
                 else f" (the task had failed with {result.error.code}: {first_line})")
        print(f"shimtask: error: could not write a result: {result.write_error}{cause}",
              file=sys.stderr)
        return EXIT_UNWRITTEN
    print(f"shimtask: task failed ({result.error.code}), wrote {result.uri}: {first_line}",
          file=sys.stderr)
    exit_zero = args.exit_zero_on_error
    if exit_zero is None:
        exit_zero = _exit_zero_default()
    return EXIT_OK if exit_zero else EXIT_FAILED


def _timeout_option(text: str | None) -> float | None:
    """``--timeout``: positive seconds; None (the environment's, if any) when not given."""
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise UsageError(f"--timeout {text}: expected a positive number of seconds")
    return seconds


# --- run ------------------------------------------------------------------------------


def _read_inputs(args: argparse.Namespace, tt: Any) -> dict[str, Any]:
    """``--inputs-json`` then ``-i``, both read by the declared types (one reader)."""
    from . import storage
    from .errors import StorageError
    from .textinput import loads_json, parse_json_value, parse_text_value

    declared = tt.interface.inputs.variables

    def unknown(name: str, where: str) -> UsageError:
        import difflib  # only for the error

        by_case = {n.lower(): n for n in declared}
        close = ([by_case[name.lower()]] if name.lower() in by_case
                 else difflib.get_close_matches(name, list(declared), 1))
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return UsageError(f"{where}: the template has no input {name!r}{hint} "
                          f"(inputs: {', '.join(sorted(declared)) or 'none'})")

    inputs: dict[str, Any] = {}
    if args.inputs_json:
        try:
            loaded = loads_json(storage.read_bytes(args.inputs_json),
                                f"--inputs-json {args.inputs_json}")
        except ValueError as exc:  # JSONDecodeError (with line and column), or a huge number
            raise UsageError(f"--inputs-json {args.inputs_json}: not valid JSON: {exc}"
                             ) from None
        except StorageError as exc:
            cause = exc.cause
            if not isinstance(cause, (FileNotFoundError, IsADirectoryError)):
                raise
            raise UsageError(f"--inputs-json {args.inputs_json}: cannot read it: "
                             f"{type(cause).__name__}: {cause.strerror}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--inputs-json {args.inputs_json}: expected a JSON object")
        for name, value in loaded.items():
            if name not in declared:
                raise unknown(name, f"--inputs-json {args.inputs_json}")
            inputs[name] = parse_json_value(name, declared[name].type, value)
    for item in args.input:
        name, sep, text = item.partition("=")
        if not sep:
            raise UsageError(f"-i {item!r}: expected NAME=VALUE")
        if name not in declared:
            raise unknown(name, f"-i {name}")
        inputs[name] = parse_text_value(name, declared[name].type, text)
    return inputs


def _cmd_run(args: argparse.Namespace) -> int:
    from .textinput import to_jsonable

    with _stdout_to_stderr():  # stdout is for the result: a plugin's prints must not mix in
        outputs = _run_locally(args)
    if args.json:
        import json  # not on the path of `execute`

        print(json.dumps(to_jsonable(outputs), indent=2, sort_keys=True, allow_nan=False))
        return EXIT_OK
    for name in sorted(outputs):
        print(_render(name, to_jsonable(outputs[name])))
    return EXIT_OK


def _run_locally(args: argparse.Namespace) -> dict[str, Any]:
    """Run the template as a cluster would, its scratch space in a directory of its own
    (removed at the end); returns the outputs by name, decoded."""
    import shutil
    import tempfile

    from . import storage
    from .context import ExecutionContext
    from .errors import MissingInput, UnexpectedInput, ValueTypeError
    from .registry import default_registry
    from .runtime import load_template
    from .task import ExecutableTemplateShimTask

    tt = load_template(args.template)
    inputs = _read_inputs(args, tt)
    registry = default_registry()
    task = ExecutableTemplateShimTask(tt, registry.resolution(tt), registry=registry)
    scratch = tempfile.mkdtemp(prefix="shimtask-run-")
    try:
        keep = args.raw_output_data_prefix
        if keep is None and _declares_blobs(tt.interface.outputs):
            keep = tempfile.mkdtemp(prefix="shimtask-outputs-")  # the user will want them
        ctx = ExecutionContext(
            raw_output_prefix=storage.absolute(keep) if keep else os.path.join(scratch, "raw"),
            working_dir=scratch)
        try:
            literal_inputs = task.codec.encode_inputs(inputs)
        except (ValueTypeError, MissingInput, UnexpectedInput) as exc:  # the user's to fix
            fix = (f": give it with -i {exc.variable}=VALUE or in --inputs-json"
                   if isinstance(exc, MissingInput) else "")
            raise UsageError(f"{exc}{fix}") from None
        outputs = task.codec.decode_outputs(task.dispatch_execute(ctx, literal_inputs))
        if keep is not None and args.raw_output_data_prefix is None:
            if os.listdir(keep):
                print(f"shimtask: file and directory outputs are kept in {keep} "
                      f"(--raw-output-data-prefix chooses where)", file=sys.stderr)
            else:
                os.rmdir(keep)
        return outputs
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _declares_blobs(variables: Any) -> bool:
    """Whether any declared type holds a file or directory (in a list, dict or union too)."""
    def holds(lt: Any) -> bool:
        kind = lt.WhichOneof("type")
        if kind == "blob":
            return True
        if kind == "collection_type":
            return holds(lt.collection_type)
        if kind == "map_value_type":
            return holds(lt.map_value_type)
        if kind == "union_type":
            return any(holds(v) for v in lt.union_type.variants)
        return False

    return any(holds(var.type) for var in variables.variables.values())


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Point stdout at stderr, for Python code and child processes alike (file descriptor 1)."""
    sys.stdout.flush()
    try:
        saved: int | None = os.dup(1)
    except OSError:  # no file descriptor 1 at all
        saved = None
    if saved is not None:
        os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        sys.stdout.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _render(name: str, value: Any) -> str:
    """Human output: records as an aligned table, anything else as JSON."""
    import json  # `run` only: json is not on the path of `execute`

    if isinstance(value, list) and value and all(isinstance(r, dict) for r in value):
        columns = list(dict.fromkeys(k for row in value for k in row))
        cells = [[json.dumps(row.get(c)) if not isinstance(row.get(c), str) else row[c]
                  for c in columns] for row in value]
        return f"{name}: {len(value)} row(s)\n{_table(columns, cells, rule=True)}"
    return f"{name}: {json.dumps(value)}"


# --- plugins --------------------------------------------------------------------------


def _cmd_plugins(args: argparse.Namespace) -> int:
    from .registry import default_registry

    registry = default_registry()
    command = args.plugins_command or "list"
    if command == "doctor":
        return _plugins_doctor(registry, args)
    if command == "index":
        return _plugins_index(registry, args)
    if command == "new":
        return _plugins_new(args)
    return _plugins_list(registry, getattr(args, "json", False))


def _plugins_new(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .scaffold import create, plugin_names

    names = plugin_names(args.name)
    written = create(args.name, args.dir)
    root = Path(args.dir) if args.dir else Path(names.dist)
    print(f"created {names.dist} (executor type {names.executor_type!r}) in {root}:")
    for path in written:
        print(f"  {path.relative_to(root)}")
    print(f"next: pip install -e '{root}[test]' && (cd {root} && pytest)")
    from .registry import default_registry
    from .scaffold import collisions

    for warning in collisions(names, default_registry().entries(include_denied=True)):
        print(f"shimtask: warning: {warning}", file=sys.stderr)
    return EXIT_OK


def _plugins_list(registry: Any, as_json: bool) -> int:
    from .registry.checks import describe_range, describe_versions

    listed = registry.statuses()
    entries = [e for e, _, _ in listed]
    statuses = [(status, note) for _, status, note in listed]
    if as_json:
        import json

        print(json.dumps([{**e.as_dict(), "status": status, "note": note}
                          for e, (status, note) in zip(entries, statuses, strict=True)],
                         indent=2))
        return EXIT_OK
    hooks = registry.plugin_entries(include_denied=True)
    if not entries and not hooks:
        from .registry.naming import KNOWN_PROVIDERS

        print("no executor plugins installed (entry-point group 'shimtask.executors'): "
              f"pip install one ({', '.join(sorted(KNOWN_PROVIDERS.values()))}), "
              "or start your own with 'shimtask plugins new NAME'")
        return EXIT_OK
    if entries:
        rows = [(e.name, e.dist, e.version, e.value, describe_range(e.requires_api),
                 describe_versions(e.task_type_versions, sep=","), status.replace("-", " "))
                for e, (status, _) in zip(entries, statuses, strict=True)]
        print(_table(("EXECUTOR", "DISTRIBUTION", "VERSION", "ENTRY POINT", "API",
                      "TEMPLATE VERSIONS", "STATUS"), rows))
    if hooks:
        print("\nhook plugins (entry-point group 'shimtask.plugins'):")
        hook_rows = [(h.name, h.dist, h.version, h.value,
                      "denied" if registry.denial(h.name, h.dist) else "ok") for h in hooks]
        print(_table(("PLUGIN", "DISTRIBUTION", "VERSION", "ENTRY POINT", "STATUS"), hook_rows))
    notes = [f"  {e.name} ({e.dist}): {status}: {note}"
             for e, (status, note) in zip(entries, statuses, strict=True)
             if status in ("denied", "conflict") and note]
    if notes:
        print("\n" + "\n".join(notes))
    if any(e.requires_api is None or e.task_type_versions is None for e in entries):
        print("\n-: not declared in the distribution's metadata (its class may declare it: "
              "'shimtask plugins doctor' imports and shows it)")
    return EXIT_OK


def _plugins_doctor(registry: Any, args: argparse.Namespace) -> int:
    from .registry.checks import describe_range, describe_versions

    reports = registry.doctor(isolated=not args.in_process, timeout=args.timeout)
    bad = [r for r in reports if not r.ok]
    if args.json:
        import json

        print(json.dumps([r.as_dict() for r in reports], indent=2))
        return EXIT_FAILED if bad else EXIT_OK
    for r in reports:
        kind = "executor" if r.group == registry.group else "hook plugin"
        line = f"{kind} {r.name} ({r.dist} {r.version}, {r.value}): {r.status.upper()}"
        if r.error:
            line += ": " + r.error.replace("\n", "\n    ")
        elif r.status == "ok" and r.group == registry.group:
            line += (f" [api {describe_range(r.requires_api, 'any')}, template versions "
                     f"{describe_versions(r.task_type_versions, 'any', sep=',')}]")
        if r.note:
            line += f" ({r.note})"
        print(line)
    counts = {s: sum(r.status == s for r in reports) for s in ("ok", "broken", "conflict",
                                                                "denied")}
    print(", ".join(f"{n} {s}" for s, n in counts.items() if n or s in ("ok", "broken")))
    return EXIT_FAILED if bad else EXIT_OK


def _plugins_index(registry: Any, args: argparse.Namespace) -> int:
    state = registry.index_state(rebuild=args.rebuild)
    if args.json:
        import json

        print(json.dumps(state.as_dict(), indent=2))
        return EXIT_OK
    status = state.status + (f": {state.reason}" if state.reason else "")
    print(f"index file: {state.file or '(none)'}")
    print(f"status: {status} ({state.elapsed * 1000:.1f} ms)")
    print(f"keyed on {len(state.path)} sys.path entries (modification times):")
    for entry, mtime in state.path:
        print(f"  {entry}  {'(missing)' if mtime < 0 else mtime}")
    if state.watched:
        print(f"and {len(state.watched)} .egg-info entry_points.txt file(s)")
    executors = [r for r in state.records if r.group == registry.group]
    dists = {r.dist for r in state.records}
    print(f"holds {len(state.records)} entry point(s): {len(executors)} executor(s), "
          f"{len(state.records) - len(executors)} hook plugin(s), from {len(dists)} "
          f"distribution(s)")
    return EXIT_OK


# --- serve --------------------------------------------------------------------------------


_SERVE_EXAMPLES = """\
examples:
  shimtask serve --port 8000
  shimtask serve --port 8000 --workers 16 --timeout 300 --metrics-port 9090
  shimtask serve --port 8443 --tls-cert server.pem --tls-key server.key
  SHIMTASK_DENY=shell shimtask serve --port 8000
"""


def _add_serve_parser(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="serve every installed executor to Flyte as a connector (gRPC)",
        description="A long-running Flyte connector (agent) service: propeller sends templates "
        "and inputs over gRPC (SyncAgentService, AsyncAgentService, AgentMetadataService, and "
        "their *Connector* names) and gets the outputs back, with no pod per task. Every "
        "installed, allowed executor type is advertised by ListAgents, which also picks up "
        "plugins pip-installed since the start (so does SIGHUP). SIGTERM drains in-flight work "
        "for --grace seconds, then exits 0. One JSON line per request on stderr. Needs "
        "shimtask-core[serve].", formatter_class=_formatter(), epilog=_SERVE_EXAMPLES)
    serve.add_argument("--host", metavar="HOST", help="address to listen on (default [::])")
    serve.add_argument("--port", type=int, metavar="N",
                       help="gRPC port (default 8000; 0 picks a free one, named in the "
                       "'serving' log line)")
    serve.add_argument("--workers", type=int, metavar="N",
                       help="executions run at the same time (default 4 per CPU, at least 4)")
    serve.add_argument("--max-queue", type=int, metavar="N",
                       help="executions that may wait for a worker; beyond it requests get "
                       "RESOURCE_EXHAUSTED (default: as many as --workers)")
    serve.add_argument("--timeout", type=float, metavar="SECONDS",
                       help="time limit of one execution (default 600; a template's own "
                       "metadata.timeout may shorten it)")
    serve.add_argument("--grace", type=float, metavar="SECONDS",
                       help="how long SIGTERM waits for in-flight work (default 25)")
    serve.add_argument("--metrics-port", type=int, metavar="N",
                       help="serve Prometheus metrics at http://HOST:N/metrics (off by default)")
    serve.add_argument("--metrics-host", metavar="HOST",
                       help="address of the metrics server (default: --host)")
    serve.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain (with --tls-key)")
    serve.add_argument("--tls-key", metavar="FILE", help="PEM private key (with --tls-cert)")


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve import ServeConfig, missing_extra

    names = ("host", "port", "workers", "max_queue", "timeout", "grace", "metrics_port",
             "metrics_host", "tls_cert", "tls_key")
    config = ServeConfig(**{n: getattr(args, n) for n in names if getattr(args, n) is not None})
    problem = missing_extra(config)
    if problem is not None:  # one line, no traceback: the fix is an install
        print(f"shimtask: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from .serve.server import run

    run(config)
    return EXIT_OK


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, rule: bool = False) -> str:
    """Left-aligned columns; ``rule`` puts a line of dashes under the header."""
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    lines = [header, *rows]
    if rule:
        lines.insert(1, ["-" * w for w in widths])
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                     for row in lines)


_HANDLERS = {"execute": _cmd_execute, "run": _cmd_run, "plugins": _cmd_plugins,
             "serve": _cmd_serve}


def pyflyte_execute() -> None:
    """``pyflyte-execute``, as shipped by the shimtask-pyflyte-execute distribution (never
    by shimtask-core, so it cannot clobber flytekit's own): flytekit's container
    arguments, run as ``shimtask execute``. Like flytekit's, it exits 0 after writing
    error.pb (Flyte reads the error from there) unless SHIMTASK_EXIT_ZERO_ON_ERROR=0.
    """
    os.environ.setdefault("SHIMTASK_EXIT_ZERO_ON_ERROR", "1")
    sys.argv[1:1] = ["execute"]
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
