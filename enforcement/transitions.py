"""Status changes driven by the transition tables.

Every status has a table beside its TextChoices (`*_TRANSITIONS` in the models): for each
status, the statuses it may become. A write that changes a status goes through `transition`,
which turns the table into the WHERE clause of one conditional UPDATE: the row changes only if
its current status is one the table allows to become the new one, and the row count says
whether it did. The table is then the guard itself, not a comment beside a hand-written one.
"""

from django.db.models import QuerySet

from enforcement.errors import InvalidTransition


def sources_of(table: dict, to: str) -> frozenset[str]:
    """The statuses that `table` allows to become `to`."""
    return frozenset(str(source) for source, targets in table.items() if to in targets)


def transition(queryset: QuerySet, *, table: dict, to: str, field: str = "status", **values) -> int:
    """Move the rows of `queryset` whose `field` may become `to` (by `table`) to `to`, setting
    `values` with it, in one conditional UPDATE. Returns the number of rows changed: 0 when
    none was in a status the table allows to become `to` (or another writer moved it first)."""
    if to not in table:
        raise ValueError(f"{to!r} is not a status of this table")
    return queryset.filter(**{f"{field}__in": sources_of(table, to)}).update(**{field: to}, **values)


def transition_one(queryset: QuerySet, *, table: dict, to: str, current: str, field: str = "status", **values) -> None:
    """`transition` of one row whose status the caller read as `current`; raises
    InvalidTransition (409) when the table does not allow current -> to or the row has moved."""
    if not transition(queryset, table=table, to=to, field=field, **values):
        raise InvalidTransition.for_move(current, to)
