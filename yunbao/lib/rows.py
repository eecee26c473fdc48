"""Saving one new row with an INSERT prepared once per model: `Model.save()` for the hot path.

Profiled on a report (`bench/intake.py`), Django's `save()` of a new work order cost 0.8 ms
of the report's 4.4 ms, four times what SQLite took to write the row and its indexes: the
SQL compiler rebuilt the 40-column INSERT and ran every value through its field's
preparation each time. `insert(instance)` writes a new instance's row with the statement
built once per model, converts only the values whose database form differs from the Python
one (datetimes, JSON, decimals, UUIDs: through the field's own `get_db_prep_save`), fills in
`auto_now`/`auto_now_add` times as `save()` would, and sets the primary key.

It sends `pre_save` and `post_save` as `save()` does but calls no overridden `save()`: it is
for models without one (the work order, its timeline entry, intake's submission, the task
row). Values are plain Python as the ORM would be given them (no lazy strings, no
expressions). Database errors are Django's (an `IntegrityError` for a taken unique key), as
from `save()`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models
from django.db.models import NOT_PROVIDED, Field, Model
from django.db.models.signals import post_save, pre_save

M = TypeVar("M", bound=Model)

# Fields whose `get_db_prep_save` returns a plain value unchanged (the driver takes it as it
# is). Exact types: a subclass may prepare its values differently.
_PLAIN: frozenset[type[Field[Any, Any]]] = frozenset(
    {
        models.CharField,
        models.TextField,
        models.SlugField,
        models.EmailField,
        models.IntegerField,
        models.BigIntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.PositiveBigIntegerField,
        models.FloatField,
        models.BooleanField,
        models.ForeignKey,
        models.OneToOneField,
    }
)


class _Plan:
    """What inserting one row of a model takes: the statement and, per column, how its
    value is read and prepared."""

    def __init__(self, model: type[Model], with_pk: bool) -> None:
        meta = model._meta
        quote = connection.ops.quote_name
        pk = meta.pk
        assert pk is not None
        self.pk = pk
        # Without a key the database makes one (an auto field) and the INSERT returns it.
        # A generated column is the database's to write.
        self.fields = [
            f
            for f in meta.concrete_fields
            if (with_pk or f is not pk) and not getattr(f, "generated", False)
        ]
        if any(f.db_default is not NOT_PROVIDED for f in self.fields):
            # save() leaves such a column out when it holds the default expression; not
            # needed here yet, so refused rather than written wrong.
            raise ValueError(f"insert() does not handle db_default columns ({model.__name__})")
        # The time fields `save()` stamps; the rest are read as the instance holds them.
        self.stamped = [f for f in self.fields if _stamped(f)]
        self.prepare: list[Callable[[Any], Any] | None] = [
            None if type(f) in _PLAIN else _preparer(f) for f in self.fields
        ]
        self.attnames = [f.attname for f in self.fields]
        columns = ", ".join(quote(str(f.column)) for f in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        table = quote(meta.db_table)
        # Names are the model's own, quoted; the values are parameters.
        self.sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        self.returning = not with_pk and bool(connection.features.can_return_columns_from_insert)
        if self.returning:
            self.sql += f" RETURNING {quote(str(pk.column))}"
        self.with_pk = with_pk


def _stamped(field: Field[Any, Any]) -> bool:
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def _preparer(field: Field[Any, Any]) -> Callable[[Any], Any]:
    def prepare(value: Any) -> Any:
        return field.get_db_prep_save(value, connection)

    return prepare


@cache
def _plan(model: type[Model], vendor: str, with_pk: bool) -> _Plan:
    return _Plan(model, with_pk)


def insert(instance: M) -> M:
    """Write the new `instance` as one row, as `save()` would (with its key when it has one,
    else the database's); returns it, saved."""
    model = type(instance)
    alias = connection.alias
    plan = _plan(model, connection.vendor, instance.pk is not None)
    # The signals `save()` sends, so a receiver (django-tasks-db fills in a task's
    # `run_after`) sees the same; with none connected a send costs a dictionary lookup.
    pre_save.send(sender=model, instance=instance, raw=False, using=alias, update_fields=None)
    for field in plan.stamped:
        field.pre_save(instance, add=True)
    params = [
        value if prepare is None or value is None else prepare(value)
        for value, prepare in zip(
            [getattr(instance, name) for name in plan.attnames], plan.prepare, strict=True
        )
    ]
    with connection.cursor() as cursor:
        cursor.execute(plan.sql, params)
        if plan.returning:
            (pk,) = cursor.fetchone()
        elif not plan.with_pk:
            pk = connection.ops.last_insert_id(cursor, model._meta.db_table, str(plan.pk.column))
    if not plan.with_pk:
        setattr(instance, plan.pk.attname, pk)
    instance._state.adding = False
    instance._state.db = alias
    post_save.send(
        sender=model, instance=instance, created=True, update_fields=None, raw=False, using=alias
    )
    return instance


__all__ = ["insert"]
