"""Fixtures of the sqlalchemy plugin's tests: a real PostgreSQL server and its tables.

The server is started once per test session (``pgserver``); each test that uses
the ``people`` table gets it freshly filled. Without PostgreSQL binaries the
database tests skip, unless ``CI`` is set (``.ci/run`` installs PostgreSQL), where
they fail: a green CI must have run them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
FIXTURES = Path(__file__).resolve().parent / "data" / "flytekit"
sys.path.insert(0, str(REPO / "tests"))  # the repository's pluginenv helpers

from pgserver import PostgresServer, PostgresUnavailable, running_server  # noqa: E402
from shimtask_core import ExecutorRegistry  # noqa: E402
from shimtask_sqlalchemy import SQLAlchemyExecutor  # noqa: E402

READER = "shimtask_reader"
READER_PASSWORD = "r3ader-pa55word-Xq"
DATABASE = "shimtask"
PEOPLE = [(1, "alice", 34), (2, "bob", 27), (3, "carol", 41), (4, "alice", 29)]


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A running PostgreSQL with the database ``shimtask`` and the role ``shimtask_reader``."""
    psycopg = pytest.importorskip("psycopg")
    try:
        context = running_server()
        server = context.__enter__()
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {exc}")
        pytest.skip(str(exc))
    try:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute(f"create role {READER} login password '{READER_PASSWORD}'")
            conn.execute(f"create database {DATABASE} owner {READER}")
        yield server
    finally:
        context.__exit__(None, None, None)


def reader_conninfo(server: PostgresServer) -> str:
    return (f"host={server.host} port={server.port} dbname={DATABASE} user={READER} "
            f"password={READER_PASSWORD}")


def reader_url(server: PostgresServer, password: str | None = READER_PASSWORD) -> str:
    return server.url(READER, password=password, database=DATABASE)


@pytest.fixture
def db(postgres: PostgresServer) -> Iterator[Any]:
    """An autocommit psycopg connection to ``shimtask`` as the reader, with fresh tables."""
    import psycopg

    with psycopg.connect(reader_conninfo(postgres), autocommit=True) as conn:
        # a connection an earlier test leaked would hold locks: fail, do not hang
        conn.execute("set lock_timeout = '20s'")
        conn.execute("drop table if exists people, typed, events")
        conn.execute("create table people (id bigint primary key, name text, age integer)")
        with conn.cursor() as cur:
            cur.executemany("insert into people values (%s, %s, %s)", PEOPLE)
        yield conn


@pytest.fixture
def registry() -> ExecutorRegistry:
    reg = ExecutorRegistry(path=[])
    reg.register("sqlalchemy", SQLAlchemyExecutor)
    return reg
