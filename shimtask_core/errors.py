"""Every exception shimtask raises, and how each maps onto Flyte's error kinds.

Errors carry the offending objects as attributes so that callers act on
fields, not on message strings. ``ERROR_KINDS`` at the bottom is the single
table that decides what ``error.pb`` says (USER or SYSTEM, recoverable or not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # a Literal costs a typing cache lookup at import, on every cold start
    from typing import Literal

    #: Whose fault a failure is, as ``error.pb`` says: the task's (USER) or the platform's
    #: (SYSTEM).
    Origin = Literal["USER", "SYSTEM"]


class ShimTaskError(Exception):
    """Base of all shimtask errors; ``code`` is the stable string written to error.pb."""

    code: str = "ShimTaskError"


# --- templates and values -----------------------------------------------------------


class TemplateError(ShimTaskError):
    """A task template that cannot be read or is not runnable."""

    code = "TemplateError"

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(f"{source}: {message}" if source else message)


class UnsupportedType(ShimTaskError):
    """A Flyte literal type this codec cannot convert."""

    code = "UnsupportedType"

    def __init__(self, type_description: str, *, variable: str | None = None) -> None:
        self.type_description = type_description
        self.variable = variable
        where = f" (variable {variable!r})" if variable else ""
        super().__init__(f"unsupported Flyte type {type_description}{where}")


class ValueTypeError(ShimTaskError):
    """A value that does not match its declared Flyte type."""

    code = "ValueTypeError"

    def __init__(self, variable: str, expected: str, got: str, *, direction: str = "value") -> None:
        self.variable = variable
        self.expected = expected
        self.got = got
        self.direction = direction
        super().__init__(f"{direction} {variable!r}: expected {expected}, got {got}")


class MissingInput(ShimTaskError):
    """A required input was not given."""

    code = "MissingInput"

    def __init__(self, variable: str, expected: str) -> None:
        self.variable = variable
        self.expected = expected
        super().__init__(f"input {variable!r} ({expected}) is required but was not given")


class UnexpectedInput(ShimTaskError):
    """Inputs were given that the template's interface does not declare."""

    code = "UnexpectedInput"

    def __init__(self, names: Sequence[str], declared: Sequence[str]) -> None:
        self.names = tuple(names)
        self.declared = tuple(declared)
        super().__init__(
            f"unknown input(s) {', '.join(map(repr, self.names))}; "
            f"the template declares: {', '.join(self.declared) or '(no inputs)'}"
        )


class OutputMismatch(ShimTaskError):
    """The executor's result does not fit the declared outputs (names or count)."""

    code = "OutputMismatch"

    def __init__(self, message: str, *, declared: Sequence[str] = ()) -> None:
        self.declared = tuple(declared)
        super().__init__(message)


# --- discovery ----------------------------------------------------------------------


class ExecutorNotFound(ShimTaskError):
    """No installed or registered executor has the requested name.

    ``install`` is the distribution known to provide ``name`` (the executors shipped
    with shimtask), so the message says what to ``pip install``; None when unknown.
    ``note`` explains a name that no plugin is meant to provide (flytekit's
    ``python-task``).
    """

    code = "ExecutorNotFound"

    def __init__(self, name: str, available: Sequence[str], closest: Sequence[str] = (), *,
                 install: str | None = None, note: str | None = None) -> None:
        self.name = name
        self.available = tuple(available)
        self.closest = tuple(closest)
        self.install = install
        if note:
            hint = f" {note}."
        elif install:
            hint = f" It is provided by the distribution {install}: pip install {install}."
        elif self.closest:
            hint = f" Did you mean {' or '.join(map(repr, self.closest))}?"
        else:
            hint = ""
        listing = ", ".join(self.available) if self.available else "none"
        super().__init__(
            f"no executor named {name!r} is installed.{hint} Installed executors: {listing}. "
            f"An executor is a distribution with an entry point in the 'shimtask.executors' "
            f"group; 'shimtask plugins list' shows them."
        )


class ExecutorConflict(ShimTaskError):
    """Two distributions claim one executor name and the user has not picked one.

    ``candidates`` describes each claimant (``dist version (module:attr)``);
    ``dists`` holds the distribution names, the values ``prefer`` accepts.
    """

    code = "ExecutorConflict"

    def __init__(self, name: str, candidates: Sequence[str], *, dists: Sequence[str] = (),
                 preferred: str | None = None) -> None:
        self.name = name
        self.candidates = tuple(candidates)
        self.dists = tuple(dists)
        self.preferred = preferred
        example = self.dists[0] if self.dists else "DIST"
        unmatched = (f" The preference {preferred!r} for {name!r} matches none of them."
                     if preferred else "")
        super().__init__(
            f"executor {name!r} is claimed by more than one source: "
            f"{'; '.join(self.candidates)}.{unmatched} Pick one with "
            f"SHIMTASK_PREFER={name}={example} or "
            f"ExecutorRegistry(prefer={{{name!r}: {example!r}}}), or uninstall one of them."
        )


class ExecutorDenied(ShimTaskError):
    """The executor exists but the allow/deny policy excludes it (it was not imported).

    ``providers`` holds ``(dist, reason)`` for every distribution that provides the
    name (all of them denied); ``dist`` and ``reason`` are the first one's.
    """

    code = "ExecutorDenied"

    def __init__(self, name: str, reason: str, *, dist: str | None = None,
                 providers: Sequence[tuple[str, str]] = ()) -> None:
        self.name = name
        self.reason = reason
        self.dist = dist
        if not providers and dist:
            providers = [(dist, reason)]
        self.providers = tuple(providers)
        if len(self.providers) > 1:
            what = (f"executor {name!r} is installed by {len(self.providers)} distributions, "
                    f"all denied: " + "; ".join(f"{d} ({r})" for d, r in self.providers))
        else:
            source = f" (from {dist})" if dist else ""
            what = f"executor {name!r}{source} is installed but denied: {reason}"
        super().__init__(
            f"{what}. The policy comes from SHIMTASK_ALLOW / SHIMTASK_DENY or "
            f"ExecutorRegistry(allow=..., deny=...)."
        )


class PluginLoadError(ShimTaskError):
    """A plugin's entry point could not be imported or is not a valid executor."""

    code = "PluginLoadError"

    def __init__(
        self,
        name: str,
        value: str,
        dist: str,
        version: str,
        cause: BaseException | str,
    ) -> None:
        self.name = name
        self.value = value
        self.dist = dist
        self.version = version
        self.cause = cause
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        super().__init__(
            f"plugin {name!r} = {value!r} from distribution {dist} {version} "
            f"failed to load: {reason}{_missing_module_fix(value, dist, cause)}"
        )


def _missing_module_fix(value: str, dist: str, cause: BaseException | str) -> str:
    """What to do about a ModuleNotFoundError at a plugin's import: the entry point's own
    module missing is a broken install; another module is a dependency not installed."""
    if not isinstance(cause, ModuleNotFoundError) or not cause.name:
        return ""
    missing, own = cause.name, value.partition(":")[0]
    if own == missing or own.startswith(missing + "."):
        return (f". The entry point's own module is not installed: reinstall {dist} "
                f"(pip install --force-reinstall {dist}), or fix the entry point it declares")
    return (f". It imports {missing!r}, which is not installed in this environment: "
            f"pip install the package that provides it, or reinstall {dist} with its "
            f"dependencies")


class VersionMismatch(ShimTaskError):
    """An executor does not accept the template's version or this core's API.

    ``kind`` is ``"task_type_version"`` or ``"api"``; ``got`` is the template's
    version or ``shimtask_core.API_VERSION``; ``accepted`` is what the executor
    declares (human form); ``declared_in`` is ``"class"`` or ``"metadata"``.
    """

    code = "VersionMismatch"

    def __init__(
        self,
        name: str,
        kind: Literal["task_type_version", "api"],
        got: int,
        accepted: str,
        *,
        dist: str | None = None,
        version: str | None = None,
        declared_in: str = "class",
        template: str | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.got = got
        self.accepted = accepted
        self.dist = dist
        self.version = version
        self.declared_in = declared_in
        self.template = template
        source = f" ({' '.join(filter(None, (dist, version)))})" if dist else ""
        if kind == "api":
            where = ("its class attribute requires_api" if declared_in == "class"
                     else "its distribution's Keywords metadata, shimtask-api")
            message = (
                f"executor {name!r}{source} requires the shimtask_core plugin API {accepted} "
                f"(declared in {where}), but this shimtask_core provides API "
                f"{got}: install a release of {dist or 'the plugin'} written for API {got}, "
                f"or a shimtask-core that provides API {accepted}"
            )
        else:
            where = ("its class attribute task_type_versions" if declared_in == "class"
                     else "its distribution's Keywords metadata, shimtask-task-type-versions")
            of = f" of template {template!r}" if template else ""
            message = (
                f"executor {name!r}{source} does not accept task_type_version {got}{of}; "
                f"it accepts {accepted} (declared in {where}): "
                f"serialize the template with a version it accepts, or install a release of "
                f"{dist or 'the plugin'} that accepts version {got}"
            )
        super().__init__(message)


# --- execution ----------------------------------------------------------------------


class ExecutorFailed(ShimTaskError):
    """The executor raised while computing the outputs (a fault in user territory)."""

    code = "ExecutorFailed"

    def __init__(self, executor_type: str, cause: BaseException) -> None:
        self.executor_type = executor_type
        self.cause = cause
        super().__init__(f"executor {executor_type!r} failed: {type(cause).__name__}: {cause}")


class StorageError(ShimTaskError):
    """Reading or writing a URI failed (network, permissions, missing file)."""

    code = "StorageError"

    def __init__(self, uri: str, action: str, cause: BaseException | str) -> None:
        self.uri = uri
        self.action = action
        self.cause = cause
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        if (isinstance(cause, OSError) and cause.strerror
                and (cause.filename is None or str(cause.filename) in uri)):
            reason = f"{type(cause).__name__}: {cause.strerror}"  # without the path again
        super().__init__(f"cannot {action} {uri}: {reason}")


class UnsafePath(ShimTaskError):
    """A directory whose copy would reach outside it: an output holding a symlink that
    leads out of its tree (``/etc/passwd``, ``../outside``), to a directory or nowhere,
    or an input whose object names climb out of the download (``dir/../../x``).

    Nothing is copied: a directory is a tree of regular files (object stores have no
    links), so only a symlink to a file inside the same tree is followed. USER, never
    recoverable: the same directory fails the same way. ``directory`` is the local path
    or URI, ``member`` the offending link or object name, ``target`` where it leads.
    """

    code = "UnsafePath"

    def __init__(self, directory: str, member: str, target: str, *, action: str,
                 reason: str = "outside the directory") -> None:
        self.directory = directory
        self.member = member
        self.target = target
        self.action = action
        self.reason = reason
        super().__init__(
            f"cannot {action} directory {directory}: {member!r} leads to {target!r}, "
            f"{reason}; a directory is copied as the regular files inside it, so a "
            f"symlink out of it, to a directory or to nothing, and a '..' name are refused, "
            f"not followed")


class ServiceUnavailable(ShimTaskError):
    """A service the executor needs (a database, a warehouse) refused the connection or
    dropped it: the environment's fault, not the task's, so Flyte may retry.

    ``service`` names it for people (a URI with its password masked, never a secret);
    ``cause`` is the reason as text, already free of secrets.
    """

    code = "ServiceUnavailable"

    def __init__(self, service: str, cause: str) -> None:
        self.service = service
        self.cause = cause
        super().__init__(f"{service} is unavailable: {cause}")


class ExecutionTimeout(ShimTaskError):
    """An execution did not finish within its time limit. Origin ``SYSTEM``, kind
    ``RECOVERABLE`` (``ERROR_KINDS``), code ``Timeout``: the task's code may be fine and
    the node merely slow, so Flyte may run it again (within the task's retries).

    Where it comes from: ``shimtask execute --timeout`` / ``SHIMTASK_EXECUTION_TIMEOUT``
    (``shimtask_core.runtime``) interrupts the running code with SIGALRM in the main
    thread (as a ``BaseException``, so ``except Exception`` cannot swallow it; this error
    is the result even if the executor returns afterwards); off the main thread a timer
    writes it to error.pb when the time is up; and a watchdog writes it and ends the
    process when the executor does not stop within the grace period. ``shimtask serve
    --timeout``, shortened by the template's own ``metadata.timeout``
    (``shimtask_core.serve.execution``), answers with it as RETRYABLE_FAILED and discards
    whatever the executor returns later.
    """

    code = "Timeout"

    def __init__(self, executor_type: str, seconds: float) -> None:
        self.executor_type = executor_type
        self.seconds = seconds
        super().__init__(f"executor {executor_type!r} did not finish within {seconds:g} s; "
                         f"its result is discarded")


class TaskLost(ShimTaskError):
    """An async task whose state went away with the server process that ran it.

    Recoverable: the task did nothing wrong, and Flyte runs it again.
    """

    code = "TaskLost"

    def __init__(self, task_id: str, reason: str) -> None:
        self.task_id = task_id
        self.reason = reason
        super().__init__(f"connector task {task_id} is lost: {reason}")


class LimitExceeded(ShimTaskError):
    """Something an execution read, built or would write is beyond a configured limit
    (``shimtask_core.limits``): the template's or the inputs' size, a value's nesting
    depth or a collection's length, the outputs' size.

    ``limit`` is the field of :class:`~shimtask_core.limits.Limits`; ``variable`` the
    environment variable that raises it; ``maximum`` the limit in force; ``value`` what
    was met (a lower bound when reading stopped at the limit: ``at_least``).
    """

    code = "LimitExceeded"

    def __init__(self, subject: str, limit: str, value: int, maximum: int, *,
                 variable: str, unit: str = "", at_least: bool = False) -> None:
        self.subject = subject
        self.limit = limit
        self.value = value
        self.maximum = maximum
        self.variable = variable
        self.at_least = at_least
        what = f"more than {maximum:,}" if at_least else f"{value:,}"
        units = f" {unit}" if unit else ""
        super().__init__(
            f"{subject} is {what}{units}, beyond the limit of {maximum:,}{units} ({variable}); "
            f"if that is expected, raise it: {variable}=<larger number>")


class MissingDependency(ShimTaskError):
    """An optional package that this URI or value needs is not installed in this image.

    Retrying cannot help, so it is never recoverable; ``extra`` names the
    ``shimtask-core[extra]`` that installs ``package``.
    """

    code = "MissingDependency"

    def __init__(self, package: str, *, purpose: str, extra: str | None = None) -> None:
        self.package = package
        self.purpose = purpose
        self.extra = extra
        install = f"pip install 'shimtask-core[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{purpose} needs {package}, which is not installed: {install}")


class Terminated(BaseException):
    """The execution was told to stop (SIGTERM: a Flyte abort or a node drain; SIGINT).

    A ``BaseException``, like ``KeyboardInterrupt``, so that executor code catching
    ``Exception`` does not swallow it. Recoverable: the task did nothing wrong, and
    Flyte may run it again elsewhere.
    """

    code = "Terminated"
    #: where error.pb was written before this propagated (None: it could not be)
    written: str | None = None

    def __init__(self, signum: int, signame: str) -> None:
        self.signum = signum
        self.signame = signame
        super().__init__(f"the execution was stopped by {signame} before it finished "
                         f"(Flyte aborted the task, or its node is being drained)")


class UsageError(ShimTaskError):
    """The command line or API was called with arguments that make no sense."""

    code = "UsageError"


class ShimTaskWarning(UserWarning):
    """Something a user should fix that stops nothing: a malformed ``SHIMTASK_*`` value, a
    hook plugin that does not load (and is skipped). The CLI prints each as one line."""


class PluginLoadWarning(ShimTaskWarning):
    """A ``shimtask.plugins`` hook plugin that failed to load and is skipped; ``error`` is
    the :class:`PluginLoadError` saying which distribution and why."""

    def __init__(self, error: PluginLoadError) -> None:
        self.error = error
        reason = (error.cause if isinstance(error.cause, str)
                  else f"{type(error.cause).__name__}: {error.cause}")
        first = reason.strip().splitlines()[0] if reason.strip() else reason
        super().__init__(f"hook plugin {error.name!r} from distribution {error.dist} "
                         f"{error.version} is skipped: it failed to load: {first}")


#: Exit status of ``shimtask execute`` when neither outputs.pb nor error.pb could be
#: written (sysexits' EX_IOERR): Flyte then has no result to read.
EXIT_UNWRITTEN: Final = 74


# --- the one table: exception class -> (origin, recoverable) ------------------------

#: Exception class -> (origin, recoverable): what ``error.pb`` says for a failure of that
#: class (``classify`` looks up its classes, most derived first).
ERROR_KINDS: Final[dict[type[BaseException], tuple[Origin, bool]]] = {
    TemplateError: ("USER", False),
    UnsupportedType: ("USER", False),
    ValueTypeError: ("USER", False),
    MissingInput: ("USER", False),
    UnexpectedInput: ("USER", False),
    OutputMismatch: ("USER", False),
    ExecutorNotFound: ("USER", False),
    ExecutorConflict: ("USER", False),
    ExecutorDenied: ("USER", False),
    PluginLoadError: ("USER", False),
    VersionMismatch: ("USER", False),
    ExecutorFailed: ("USER", False),
    UsageError: ("USER", False),
    MissingDependency: ("USER", False),
    LimitExceeded: ("USER", False),
    UnsafePath: ("USER", False),
    StorageError: ("SYSTEM", True),
    ServiceUnavailable: ("SYSTEM", True),
    ExecutionTimeout: ("SYSTEM", True),
    TaskLost: ("SYSTEM", True),
    Terminated: ("SYSTEM", True),
}


def classify(exc: BaseException) -> tuple[str, Origin, bool]:
    """Return ``(code, origin, recoverable)`` for any exception.

    Anything not in the table is the framework's own fault: SYSTEM and not
    recoverable, since retrying a bug does not fix it. An executor may mark its
    own exception retryable by setting ``recoverable = True`` on it.
    """
    for cls in type(exc).__mro__:
        kind = ERROR_KINDS.get(cls)
        if kind is not None:
            origin, recoverable = kind
            cause: Any = getattr(exc, "cause", None)
            if isinstance(exc, ExecutorFailed) and getattr(cause, "recoverable", False) is True:
                recoverable = True
            return getattr(exc, "code", cls.__name__), origin, recoverable
    return f"SYSTEM:{type(exc).__name__}", "SYSTEM", False
