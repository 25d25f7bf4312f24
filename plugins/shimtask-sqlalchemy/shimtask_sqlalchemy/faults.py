"""Database errors sorted into the task's faults and the environment's.

* The database refused the statement (syntax, a missing table, a constraint,
  bad data): :class:`QueryError`, the task's fault (USER, not recoverable),
  carrying the database's own message and SQLSTATE.
* The server rejected the connection (wrong password, unknown database or role):
  :class:`ConnectionRejected`, also the task's fault: retrying cannot fix it.
* The server could not be reached, dropped the connection, is starting or
  shutting down, is out of connections, or aborted the transaction to break a
  deadlock: ``shimtask_core.ServiceUnavailable``, SYSTEM and recoverable, so
  Flyte retries.

PostgreSQL's SQLSTATE decides where the driver gives one; otherwise the
DB-API exception class and SQLAlchemy's own disconnect detection do. Every
message is scrubbed of secrets before it is built into an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from shimtask_core import ServiceUnavailable

__all__ = ["ConnectionRejected", "NoRows", "QueryError", "translate"]

Phase = Literal["connect", "execute"]

# SQLSTATE classes (and codes) of transient faults: connection exception, insufficient
# resources, operator intervention (shutdown, crash, starting up), system I/O error,
# and transaction rollbacks a retry resolves (serialization failure, deadlock).
_TRANSIENT_SQLSTATES = ("08", "53", "57P", "58", "40001", "40P01")
# SQLSTATE classes of a connection the server refused for what the template says.
_REJECTED_SQLSTATES = ("28", "3D")
# Without an SQLSTATE (connection failures), what the server's refusal says.
_TRANSIENT_WORDS = ("starting up", "shutting down", "in recovery mode", "too many clients",
                    "remaining connection slots", "not yet accepting connections")
_REJECTED_WORDS = ("authentication failed", "password", "no pg_hba.conf entry",
                   "does not exist", "access denied", "permission denied", "not permitted",
                   "invalid")


class QueryError(Exception):
    """The database refused the statement; the message is the database's own."""

    def __init__(self, message: str, *, sqlstate: str | None, database: str,
                 statement: str | None) -> None:
        self.sqlstate = sqlstate
        self.database = database
        self.statement = statement
        self.database_message = message
        code = f" [SQLSTATE {sqlstate}]" if sqlstate else ""
        query = f"; query: {statement}" if statement else ""
        super().__init__(f"{message}{code} (database {database}{query})")


class ConnectionRejected(Exception):
    """The server refused the connection for what the template gives (credentials, names)."""

    def __init__(self, message: str, *, database: str) -> None:
        self.database = database
        self.database_message = message
        super().__init__(f"cannot connect to {database}: {message}")


class NoRows(Exception):
    """The template declares an output for rows, but the statement returns none."""


def _sqlstate(orig: Any) -> str | None:
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) and code else None


def translate(exc: BaseException, *, phase: Phase, database: str, statement: str | None,
              redact: Callable[[str], str]) -> Exception:
    """The exception to raise for a database or driver error (never the original)."""
    from sqlalchemy import exc as sa_exc

    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    message = redact(str(orig).strip() or type(orig).__name__)
    sqlstate = _sqlstate(orig)
    lowered = message.lower()
    classes = {cls.__name__ for cls in type(orig).__mro__}
    if sqlstate is not None:
        if sqlstate.startswith(_TRANSIENT_SQLSTATES):
            return ServiceUnavailable(database, f"{message} [SQLSTATE {sqlstate}]")
        if phase == "connect" and sqlstate.startswith(_REJECTED_SQLSTATES):
            return ConnectionRejected(message, database=database)
    elif phase == "connect":
        network = bool(classes & {"OperationalError", "InterfaceError"})
        if network and (any(word in lowered for word in _TRANSIENT_WORDS)
                        or not any(word in lowered for word in _REJECTED_WORDS)):
            return ServiceUnavailable(database, message)
        return ConnectionRejected(message if "Error" in classes else
                                  f"{type(orig).__name__}: {message}", database=database)
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return ServiceUnavailable(database, message)
    if "Error" in classes and not isinstance(orig, sa_exc.SQLAlchemyError):  # PEP 249's base
        return QueryError(message, sqlstate=sqlstate, database=database, statement=statement)
    return QueryError(f"{type(orig).__name__}: {message}", sqlstate=None, database=database,
                      statement=statement)
