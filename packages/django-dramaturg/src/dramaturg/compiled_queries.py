"""Queries of a hot path compiled by Django's ORM once and run again with each call's values.

Building and compiling a QuerySet costs far more CPU than running it: on SQLite, a send-once claim
took 0.6 ms to build and compile against 0.04 ms to run (PostgreSQL: 0.7 against 0.1), and an email
job runs three such statements. A `CompiledUpdate` or `CompiledSelect` is written once as a QuerySet
whose variable values ("slots") are placeholders; Django compiles it once per thread and database
alias; each call binds its values to the same parameters, as the slots' fields bind them (the same
`get_db_prep_value` the compiler calls), and converts what comes back with the compiler's converters.

The placeholders are values no caller uses. After compiling, each must be found exactly once among
the statement's parameters, or ImproperlyConfigured is raised: a query whose shape hides a value is
never run with a stale one.

Written against Django 6.1.3's SQL compiler (`SQLUpdateCompiler.execute_returning_sql`'s steps,
`as_sql`, `get_converters`, `apply_converters`), pinned by tests/upstream/test_pins.py.
`CompiledSelect` is public; `CompiledUpdate` is internal (the send-once claims and mark).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import DateTimeField, Field, ForeignObject, Model, QuerySet
from django.db.models.sql import UpdateQuery
from django.db.models.sql.compiler import SQLCompiler

# A QuerySet of a model's default manager written with each slot's placeholder; for an UPDATE, with the
# values to set.
type BuildSelect = Callable[..., QuerySet[Any]]
type BuildUpdate = Callable[..., tuple[QuerySet[Any], dict[str, Any]]]

_PLACEHOLDER_INT = -7_392_018_433_571  # far below any primary key


def _placeholder(field: Field[Any, Any], n: int) -> Any:
    if isinstance(field, DateTimeField):
        return datetime(1901, 2, 3, 4, 5, 6, 700_000 + n, tzinfo=UTC)
    if field.get_internal_type() in {"AutoField", "BigAutoField", "IntegerField", "BigIntegerField"}:
        return _PLACEHOLDER_INT - n
    raise ImproperlyConfigured(f"No placeholder for a slot bound as {field!r}")


def _binding_field(model: type[Model], name: str) -> Field[Any, Any]:
    """The field whose `get_db_prep_value` binds a value compared with or written to field `name`
    ("pk" is the primary key; a foreign key binds as its target)."""
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    if isinstance(field, ForeignObject):
        field = field.target_field
    return cast("Field[Any, Any]", field)


@dataclass(frozen=True)
class _Compiled:
    connection: BaseDatabaseWrapper
    compiler: SQLCompiler
    sql: str
    params: tuple[Any, ...]
    slots: tuple[tuple[str, int, Field[Any, Any]], ...]  # (name, parameter index, field that binds it)
    converters: dict[int, Any]
    returning: bool  # an UPDATE that reads its rows back ...
    attnames: tuple[str, ...] = ()  # ... into these attributes of its model


class _Compiler:
    """What CompiledUpdate and CompiledSelect share: the slots and the per-thread cache."""

    def __init__(self, slots: dict[str, str]) -> None:
        self.slot_fields = slots  # slot name -> the name of the model field that binds it
        self._local = threading.local()

    def _compiled(self, model: type[Model], alias: str) -> _Compiled:
        cache: dict[tuple[type[Model], str], _Compiled] = self._local.__dict__.setdefault("cache", {})
        compiled = cache.get((model, alias))
        # A connection is its thread's; tests may swap one out (the cache then compiles again).
        if compiled is None or compiled.connection is not connections[alias]:
            compiled = cache[model, alias] = self._compile(model, alias)
        return compiled

    def _compile(self, model: type[Model], alias: str) -> _Compiled:
        raise NotImplementedError

    def _placeholders(self, model: type[Model]) -> dict[str, tuple[Field[Any, Any], Any]]:
        fields = {name: _binding_field(model, f) for name, f in self.slot_fields.items()}
        return {name: (field, _placeholder(field, n)) for n, (name, field) in enumerate(fields.items())}

    @staticmethod
    def _finish(
        connection: BaseDatabaseWrapper,
        compiler: SQLCompiler,
        sql: str,
        params: Any,
        placeholders: dict[str, tuple[Field[Any, Any], Any]],
        converters: dict[int, Any],
        returning: bool,
        attnames: tuple[str, ...] = (),
    ) -> _Compiled:
        params = tuple(params)
        slots = []
        for name, (field, value) in placeholders.items():
            bound = field.get_db_prep_value(value, connection, prepared=False)
            found = [i for i, param in enumerate(params) if type(param) is type(bound) and param == bound]
            if len(found) != 1:
                raise ImproperlyConfigured(f"Slot {name!r} is {len(found)} parameters of {sql!r}, not one")
            slots.append((name, found[0], field))
        return _Compiled(connection, compiler, sql, params, tuple(slots), converters, returning, attnames)

    @staticmethod
    def _bind(compiled: _Compiled, values: dict[str, Any]) -> list[Any]:
        params = list(compiled.params)
        for name, index, field in compiled.slots:
            params[index] = field.get_db_prep_value(values[name], compiled.connection, prepared=False)
        return params

    @staticmethod
    def _converted(compiled: _Compiled, rows: list[Any]) -> list[Any]:
        if compiled.converters:
            return list(compiled.compiler.apply_converters(rows, compiled.converters))
        return rows


class CompiledUpdate(_Compiler):
    """An UPDATE of a model's rows, compiled once per thread and database.

    `build(manager, **placeholders)` returns the rows to update and the values to set. `run` returns
    the rows updated, read back by the same statement (UPDATE ... RETURNING) when `returning` and the
    backend can; otherwise one empty tuple per row updated (as Django's own
    SQLUpdateCompiler.execute_returning_sql does: the caller reads the row with a SELECT).
    """

    def __init__(self, build: BuildUpdate, slots: dict[str, str], *, returning: bool = False) -> None:
        super().__init__(slots)
        self.build, self.returning = build, returning

    def _compile(self, model: type[Model], alias: str) -> _Compiled:
        connection = connections[alias]
        placeholders = self._placeholders(model)
        rows, values = self.build(model._default_manager, **{name: v for name, (_, v) in placeholders.items()})
        query = cast(UpdateQuery, rows.query.chain(UpdateQuery))
        query.add_update_values(values)
        query.clear_select_clause()
        if query.get_related_updates() or query.count_active_tables() > 1:
            raise ImproperlyConfigured("A compiled UPDATE sets and filters its own table's columns only")
        compiler = query.get_compiler(alias)
        returning = self.returning and connection.features.can_return_rows_from_update
        converters: dict[int, Any] = {}
        fields = model._meta.concrete_fields
        if returning:
            compiler.returning_fields = fields
            converters = compiler.get_converters([f.get_col(model._meta.db_table) for f in fields])
        sql, params = compiler.as_sql()
        attnames = tuple(f.attname for f in fields)
        return self._finish(connection, compiler, sql, params, placeholders, converters, returning, attnames)

    def run[M: Model](self, model: type[M], **values: Any) -> list[M] | list[tuple[()]]:
        """Run the UPDATE on `model`'s table with these slot values (in a transaction, like QuerySet.update)."""
        alias = router.db_for_write(model)
        compiled = self._compiled(model, alias)
        with transaction.mark_for_rollback_on_error(using=alias), compiled.connection.cursor() as cursor:
            cursor.execute(compiled.sql, self._bind(compiled, values))
            if not compiled.returning:
                return [()] * cursor.rowcount
            rows = compiled.connection.ops.fetch_returned_rows(cursor, compiled.compiler.returning_params)  # type: ignore[attr-defined]
        return [model.from_db(alias, compiled.attnames, row) for row in self._converted(compiled, list(rows))]


class CompiledSelect(_Compiler):
    """A SELECT of columns, compiled once per thread and database: `build(manager, **placeholders)`
    returns a `values_list` QuerySet; `run` returns its rows as lists, converted as Django converts them."""

    def __init__(self, build: BuildSelect, slots: dict[str, str]) -> None:
        super().__init__(slots)
        self.build = build

    def _compile(self, model: type[Model], alias: str) -> _Compiled:
        connection = connections[alias]
        placeholders = self._placeholders(model)
        rows = self.build(model._default_manager, **{name: v for name, (_, v) in placeholders.items()})
        compiler = rows.query.get_compiler(alias)
        sql, params = compiler.as_sql()
        converters = compiler.get_converters([s[0] for s in compiler.select[: compiler.col_count]])
        return self._finish(connection, compiler, sql, params, placeholders, converters, False)

    def run(self, model: type[Model], **values: Any) -> list[list[Any]]:
        """The rows selected from `model`'s table with these slot values."""
        compiled = self._compiled(model, router.db_for_read(model))
        with compiled.connection.cursor() as cursor:
            cursor.execute(compiled.sql, self._bind(compiled, values))
            rows = cursor.fetchall()
        return self._converted(compiled, [list(row) for row in rows])
