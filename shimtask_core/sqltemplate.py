"""SQL query templates: flytekit's text placeholders turned into bound parameters.

flytekit's SQL tasks write inputs into ``query_template`` as ``{{ .inputs.name }}``
and substitute them as *text* (``str(value)``), so their users put string
placeholders inside quotes::

    select * from people where name = '{{ .inputs.name }}' and age >= {{ .inputs.min_age }}

:func:`compile_query` never pastes a value into SQL. Every placeholder becomes a
parameter of the DB-API ``paramstyle`` the driver wants, and the value travels
beside the query::

    >>> compile_query("select * from t where name = '{{ .inputs.name }}'",
    ...               {"name": "x' OR '1'='1"}, "named")
    ('select * from t where name = :name', {'name': "x' OR '1'='1"})

The rules, by where a placeholder stands (the template is scanned like SQL, so
quotes and comments are known):

* **code**: ``{{ .inputs.n }}`` becomes the parameter (``:n``, ``?``, ``%(n)s``...).
* **a whole string literal**: ``'{{ .inputs.name }}'``: the quotes belong to the
  placeholder and are dropped; the value is bound as it is.
* **part of a string literal**: ``'%{{ .inputs.q }}%'`` becomes
  ``('%' || :q || '%')`` (or ``CONCAT('%', :q, '%')`` with ``concat="CONCAT"``),
  still one bound value.
* **a quoted identifier** (``"..."`` or backquotes): an error, since identifiers
  (table and column names) cannot be bound; so is a placeholder right after
  ``FROM`` / ``JOIN`` / ``INTO`` / ``UPDATE`` / ``TABLE`` (a table name), after
  ``ORDER BY`` / ``GROUP BY`` / ``PARTITION BY`` (a bound value there would sort
  or group by a constant, silently), or next to a ``.`` as in ``schema.{{ ... }}``.
* **a comment** (``-- ...`` or ``/* ... */``): left as it is; never substituted.
* **an IN list**: a collection (list or tuple) value in ``IN ({{ .inputs.ids }})``
  (quoted or not, alone or beside other items) becomes one parameter per element,
  ``IN (:ids_0, :ids_1, :ids_2)``, since one bound list compares as one value and
  silently matches nothing. An empty collection is an error: SQL has no empty IN
  list. Elsewhere a collection is bound as one value (a PostgreSQL array, say).

Placeholders are found with the pattern flytekit uses (``SQLTask._INPUT_REGEX``).
A name that is not among the inputs is an error naming it and the inputs. Inputs
the query does not mention are ignored (flytekit refuses them). For the
``pyformat`` and ``format`` styles every literal ``%`` of the template is written
``%%``, as those drivers require. String literals follow standard SQL (``''``
escapes a quote); backslash escapes (MySQL's default, PostgreSQL's ``E'...'``) and
PostgreSQL's dollar-quoted strings are not recognised.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final, Literal, NamedTuple, overload

from .errors import TemplateError, UsageError, ValueTypeError

__all__ = ["PARAMSTYLES", "Paramstyle", "compile_query", "placeholder_names"]

#: The DB-API 2.0 (PEP 249) parameter styles.
Paramstyle = Literal["named", "pyformat", "qmark", "numeric", "format"]
#: The values of ``Paramstyle``, for checking a driver's ``paramstyle`` at run time.
PARAMSTYLES: Final[tuple[str, ...]] = ("named", "pyformat", "qmark", "numeric", "format")

Concat = Literal["||", "CONCAT"]

# flytekit's SQLTask._INPUT_REGEX, verbatim: what flytekit substitutes, we bind.
_PLACEHOLDER: Final = re.compile(r"({{\s*.inputs.(\w+)\s*}})", re.IGNORECASE)

# Where a quoted string, quoted identifier or comment starts.
_OPENERS: Final = re.compile(r"['\"`]|--|/\*")
_CLOSERS: Final[dict[str, re.Pattern[str]]] = {
    "'": re.compile(r"'(?:[^']|'')*'"),
    '"': re.compile(r'"(?:[^"]|"")*"'),
    "`": re.compile(r"`(?:[^`]|``)*`"),
    "--": re.compile(r"--[^\n]*"),
    "/*": re.compile(r"/\*.*?\*/", re.DOTALL),
}
_KINDS: Final[dict[str, str]] = {
    "'": "string",
    '"': "identifier",
    "`": "identifier",
    "--": "comment",
    "/*": "comment",
}
_NAMES: Final[dict[str, str]] = {
    "'": "string literal",
    '"': "quoted identifier",
    "`": "quoted identifier",
    "/*": "block comment",
}

# Code right before a placeholder that makes it an identifier, not a value.
_TABLE_BEFORE: Final = re.compile(r"\b(from|join|into|update|table)\s*$", re.IGNORECASE)
_DISTINCT_FROM: Final = re.compile(r"\bdistinct\s+from\s*$", re.IGNORECASE)
_BY_BEFORE: Final = re.compile(r"\b(order|group|partition)\s+by\s*$", re.IGNORECASE)
_DOT_BEFORE: Final = re.compile(r"[\w\"`\]]\.\s*$")
_DOT_AFTER: Final = re.compile(r"\s*\.\s*[A-Za-z_\"`\[]")
_SUBQUERY: Final = re.compile(r"\s*(select|with)\b", re.IGNORECASE)
_IN_BEFORE: Final = re.compile(r"\bin\s*$", re.IGNORECASE)  # right before an IN list's "("
_LOOKBEHIND: Final = 64


class _Segment(NamedTuple):
    """A stretch of the template (a named tuple: ``dataclasses`` would import ``inspect``,
    ``ast`` and ``dis``, ~8 ms and ~1 MB of every cold SQL task)."""

    kind: str  # "code", "string", "identifier" or "comment"
    start: int
    end: int


def _segments(template: str, source: str | None = None) -> Iterator[_Segment]:
    """Split a template into code, string literals, quoted identifiers and comments."""
    pos = 0
    while pos < len(template):
        opener = _OPENERS.search(template, pos)
        if opener is None:
            yield _Segment("code", pos, len(template))
            return
        if opener.start() > pos:
            yield _Segment("code", pos, opener.start())
        token = opener.group()
        closed = _CLOSERS[token].match(template, opener.start())
        if closed is None:
            line = template.count("\n", 0, opener.start()) + 1
            raise TemplateError(
                f"unterminated {_NAMES[token]} starting at line {line}, offset "
                f"{opener.start()}: {template[opener.start():opener.start() + 40]!r}"
            )
        yield _Segment(_KINDS[token], opener.start(), closed.end())
        pos = closed.end()


class _Compiler:
    """One pass over a template, writing the SQL and collecting the parameters."""

    def __init__(
        self,
        template: str,
        inputs: Mapping[str, Any],
        paramstyle: str,
        concat: Concat,
        source: str | None,
    ) -> None:
        self.template = template
        self.source = source
        self.inputs = inputs
        self.paramstyle = paramstyle
        self.concat = concat
        self.escape_percent = paramstyle in ("pyformat", "format")
        self.sql: list[str] = []
        self.named: dict[str, Any] = {}
        self.positional: list[Any] = []
        self.numbers: dict[str, int] = {}
        self.unknown: list[str] = []
        self.open_parens: list[int] = []  # template offsets of "(" not yet closed
        #: Every bind, as where its value comes from (input, element or None), so that
        #: the next template with inputs of the same shape reuses this compilation.
        self.binds: list[_Bind] = []

    def error(self, message: str) -> TemplateError:
        return TemplateError(message, source=self.source)

    def run(self) -> None:
        for segment in _segments(self.template, self.source):
            text = self.template[segment.start:segment.end]
            if segment.kind == "code":
                self.code(segment.start, segment.end)
            elif segment.kind == "string":
                self.string(segment.start, text)
            elif segment.kind == "identifier" and _PLACEHOLDER.search(text):
                raise self.error(
                    f"placeholder inside the quoted identifier {text}: identifiers (table "
                    f"and column names) cannot be bound parameters, only values can. Use a "
                    f"fixed name in the query, or one query template per table"
                )
            else:
                self.text(text)
        if self.unknown:
            names = ", ".join(map(repr, dict.fromkeys(self.unknown)))
            declared = ", ".join(sorted(self.inputs)) or "(no inputs)"
            raise self.error(
                f"the query uses placeholder(s) {names} that are not inputs; the inputs "
                f"are: {declared}"
            )

    def text(self, text: str) -> None:
        self.sql.append(text.replace("%", "%%") if self.escape_percent else text)

    def code(self, start: int, end: int) -> None:
        pos = start
        for match in _PLACEHOLDER.finditer(self.template, start, end):
            self.plain_code(pos, match.start())
            self.check_value_position(match)
            self.sql.append(self.param(match.group(2), in_list=self.in_list()))
            pos = match.end()
        self.plain_code(pos, end)

    def plain_code(self, start: int, end: int) -> None:
        text = self.template[start:end]
        stray = text.find("{{")
        if stray >= 0:
            raise self.error(
                f"malformed placeholder {text[stray:stray + 40]!r}: write "
                f"{{{{ .inputs.NAME }}}} with NAME one of: "
                f"{', '.join(sorted(self.inputs)) or '(no inputs)'}"
            )
        for index, char in enumerate(text):
            if char == "(":
                self.open_parens.append(start + index)
            elif char == ")" and self.open_parens:
                self.open_parens.pop()
        self.text(text)

    def in_list(self) -> bool:
        """Whether the innermost open parenthesis is an ``IN (...)`` list of values."""
        if not self.open_parens:
            return False
        paren = self.open_parens[-1]
        before = self.template[max(0, paren - _LOOKBEHIND):paren]
        return (_IN_BEFORE.search(before) is not None
                and _SUBQUERY.match(self.template, paren + 1) is None)

    def check_value_position(self, match: re.Match[str]) -> None:
        """Refuse placeholders that stand where SQL wants a name, not a value."""
        before = self.template[max(0, match.start() - _LOOKBEHIND):match.start()]
        placeholder = match.group(1)
        role = None
        keyword = _TABLE_BEFORE.search(before)
        if keyword is not None and not _DISTINCT_FROM.search(before):
            # FROM inside a function call (extract(year from x), substring(s from 2))
            # takes a value; FROM at the top or in a subquery takes a table.
            inner = self.open_parens[-1] + 1 if self.open_parens else None
            if inner is None or _SUBQUERY.match(self.template, inner):
                role = f"a table name after {keyword.group(1).upper()}"
        elif found := _BY_BEFORE.search(before):
            role = (f"a column after {found.group(1).upper()} BY (a bound value there is "
                    f"a constant, which would silently {found.group(1).lower()} by nothing)")
        elif _DOT_BEFORE.search(before) or _DOT_AFTER.match(self.template, match.end()):
            role = "part of a qualified name"
        if role is not None:
            raise self.error(
                f"placeholder {placeholder} stands where SQL expects {role}; identifiers "
                f"cannot be bound parameters, only values can. flytekit pasted the text "
                f"there; shimtask binds values, so write the name in the query"
            )

    def string(self, start: int, text: str) -> None:
        body = text[1:-1]
        matches = list(_PLACEHOLDER.finditer(body))
        if not matches:
            self.text(text)
            return
        if start > 0 and (self.template[start - 1].isalnum() or self.template[start - 1] == "_"):
            raise self.error(
                f"placeholder inside the prefixed string literal "
                f"{self.template[start - 1]}{text}: write the placeholder in a plain "
                f"'...' literal"
            )
        if len(matches) == 1 and matches[0].group(0) == body:  # '{{ .inputs.x }}': x itself
            self.sql.append(self.param(matches[0].group(2), in_list=self.in_list()))
            return
        pieces: list[str] = []
        pos = 0
        for match in matches:
            if match.start() > pos:
                pieces.append(self.quoted(body[pos:match.start()]))
            pieces.append(self.param(match.group(2)))
            pos = match.end()
        if pos < len(body):
            pieces.append(self.quoted(body[pos:]))
        if len(pieces) == 1:
            self.sql.append(pieces[0])
        elif self.concat == "CONCAT":
            self.sql.append(f"CONCAT({', '.join(pieces)})")
        else:
            self.sql.append(f"({' || '.join(pieces)})")

    def quoted(self, body: str) -> str:
        literal = f"'{body}'"
        return literal.replace("%", "%%") if self.escape_percent else literal

    def param(self, name: str, *, in_list: bool = False) -> str:
        if name not in self.inputs:
            self.unknown.append(name)
            return ""
        value = self.inputs[name]
        if in_list and isinstance(value, (list, tuple)):
            return self.expand(name, value)
        return self.bind(name, value, name, None)

    def expand(self, name: str, values: list[Any] | tuple[Any, ...]) -> str:
        """One parameter per element of a collection used in ``IN (...)``."""
        if not values:
            raise ValueTypeError(
                name, "a non-empty collection (it is used in IN (...), and SQL has no empty "
                "IN list; guard the query or leave the condition out for no values)",
                f"an empty {type(values).__name__}", direction="input")
        prefix = f"{name}_"
        while any(f"{prefix}{i}" in self.inputs for i in range(len(values))):
            prefix += "_"  # never shadow a real input named like an element
        return ", ".join(self.bind(f"{prefix}{i}", value, name, i)
                         for i, value in enumerate(values))

    def bind(self, name: str, value: Any, source: str, index: int | None) -> str:
        """Bind ``value`` (``inputs[source]``, or its element ``index``) as ``name``."""
        style = self.paramstyle
        if style == "named":
            self.named[name] = value
            self.binds.append((name, source, index))
            return f":{name}"
        if style == "pyformat":
            self.named[name] = value
            self.binds.append((name, source, index))
            return f"%({name})s"
        if style == "numeric":
            number = self.numbers.get(name)
            if number is None:
                self.positional.append(value)
                self.binds.append((None, source, index))
                number = self.numbers[name] = len(self.positional)
            return f":{number}"
        self.positional.append(value)
        self.binds.append((None, source, index))
        return "?" if style == "qmark" else "%s"


#: A bound parameter: its name (None for positional styles), the input it comes from,
#: and the element of that input (a collection in ``IN (...)``), or None.
_Bind = tuple[str | None, str, int | None]
#: Compilations by (template, paramstyle, concat, source, the inputs' shape: each
#: name, and a collection's length): the SQL, and where each parameter comes from.
#: A query runs again and again with other values; scanning it costs more than a
#: small query.
_COMPILED: dict[tuple[Any, ...], tuple[str, tuple[_Bind, ...]]] = {}
_COMPILED_LIMIT = 256


def _shape(inputs: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
    return tuple((name, len(value) if isinstance(value, (list, tuple)) else -1)
                 for name, value in inputs.items())


def _replay(binds: tuple[_Bind, ...], inputs: Mapping[str, Any],
            named: bool) -> dict[str, Any] | list[Any]:
    def value(source: str, index: int | None) -> Any:
        found = inputs[source]
        return found if index is None else found[index]

    if named:
        return {name: value(source, index) for name, source, index in binds if name}
    return [value(source, index) for _, source, index in binds]


@overload
def compile_query(
    template: str,
    inputs: Mapping[str, Any],
    paramstyle: Literal["named", "pyformat"],
    *,
    concat: Concat = "||",
    source: str | None = None,
) -> tuple[str, dict[str, Any]]: ...


@overload
def compile_query(
    template: str,
    inputs: Mapping[str, Any],
    paramstyle: Literal["qmark", "numeric", "format"],
    *,
    concat: Concat = "||",
    source: str | None = None,
) -> tuple[str, list[Any]]: ...


@overload
def compile_query(
    template: str,
    inputs: Mapping[str, Any],
    paramstyle: str,
    *,
    concat: Concat = "||",
    source: str | None = None,
) -> tuple[str, dict[str, Any] | list[Any]]: ...


def compile_query(
    template: str,
    inputs: Mapping[str, Any],
    paramstyle: str,
    *,
    concat: Concat = "||",
    source: str | None = None,
) -> tuple[str, dict[str, Any] | list[Any]]:
    """Turn a flytekit query template into SQL with bound parameters.

    Returns ``(sql, params)`` ready for ``cursor.execute(sql, params)``: a dict
    for the ``named`` and ``pyformat`` styles (only the names the query uses), a
    list for ``qmark``, ``numeric`` and ``format``. ``paramstyle`` is usually
    the driver module's own ``paramstyle`` attribute. A placeholder used twice
    binds the same value twice (once for ``named``, ``pyformat`` and ``numeric``).
    ``concat`` is how a placeholder inside a longer string literal is joined to
    the rest of it: the SQL-standard ``||`` operator (SQLite, PostgreSQL, Oracle,
    Snowflake...) or the ``CONCAT(...)`` function (MySQL, SQL Server).
    ``source`` (say, the task's name) prefixes error messages.

    Raises :class:`~shimtask_core.errors.TemplateError` for a placeholder naming
    no input, a placeholder where SQL wants an identifier, a malformed
    placeholder or an unterminated quote; :class:`~shimtask_core.errors.UsageError`
    for an unknown ``paramstyle`` or ``concat``.
    """
    if paramstyle not in PARAMSTYLES:
        raise UsageError(
            f"unknown DB-API paramstyle {paramstyle!r}; expected one of {', '.join(PARAMSTYLES)}"
        )
    if concat not in ("||", "CONCAT"):
        raise UsageError(f"unknown concat {concat!r}; expected '||' or 'CONCAT'")
    named = paramstyle in ("named", "pyformat")
    key = (template, paramstyle, concat, source, _shape(inputs))
    hit = _COMPILED.get(key)
    if hit is not None:
        return hit[0], _replay(hit[1], inputs, named)
    compiler = _Compiler(template, inputs, paramstyle, concat, source)
    compiler.run()
    sql = "".join(compiler.sql)
    if len(_COMPILED) >= _COMPILED_LIMIT:
        _COMPILED.clear()
    _COMPILED[key] = (sql, tuple(compiler.binds))
    if named:
        return sql, compiler.named
    return sql, compiler.positional


def placeholder_names(template: str) -> tuple[str, ...]:
    """The input names a query template binds, in order of first use (comments excluded).

    For checking a template against its interface before running it.
    """
    names: dict[str, None] = {}
    for segment in _segments(template):
        if segment.kind in ("code", "string"):
            text = template[segment.start:segment.end]
            names.update((match.group(2), None) for match in _PLACEHOLDER.finditer(text))
    return tuple(names)
