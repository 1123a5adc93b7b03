"""The transition tables drive the writes: every `*_TRANSITIONS` table of every app is found
(not listed by hand), matches the statuses of its model, and `transitions.transition` moves a
row exactly when its table allows it."""

import pathlib
import re

import pytest
from django.apps import apps
from django.db import models
from django.utils import timezone

from enforcement.models import ExportJob, ExportStatus
from enforcement.transitions import sources_of, transition
from tests import factories

pytestmark = pytest.mark.django_db

ROOT = pathlib.Path(__file__).resolve().parent.parent


def discovered_tables() -> dict[str, dict]:
    tables = {}
    for config in apps.get_app_configs():
        if not config.name.startswith(("enforcement", "reportin")):
            continue
        for name, value in vars(config.models_module).items():
            if name.endswith("_TRANSITIONS") and isinstance(value, dict):
                tables[f"{config.label}.{name}"] = value
    return tables


def status_field_of(table: dict) -> models.Field:
    """The one concrete model field whose choices are the table's statuses."""
    found = [
        field
        for model in apps.get_models()
        if not model._meta.proxy
        for field in model._meta.concrete_fields
        if field.choices and {value for value, _ in field.flatchoices} == set(table)
    ]
    assert len(found) == 1, f"no single status field for {sorted(table)}: {found}"
    return found[0]


def test_every_table_is_found_including_exports():
    names = set(discovered_tables())
    assert {
        "enforcement.CASE_STATUS_TRANSITIONS", "enforcement.PHOTO_STATUS_TRANSITIONS", "enforcement.WINDOW_STATUS_TRANSITIONS",
        "enforcement.TASK_STATUS_TRANSITIONS", "enforcement.ESCALATION_STATUS_TRANSITIONS",
        "enforcement.NOTIFICATION_STATUS_TRANSITIONS", "enforcement.EXPORT_STATUS_TRANSITIONS", "reportin.CHECKIN_STATUS_TRANSITIONS",
    } <= names


@pytest.mark.parametrize("name", sorted(discovered_tables()))
def test_every_status_has_an_explicit_row_and_the_table_fits_its_model(name):
    table = discovered_tables()[name]
    field = status_field_of(table)
    statuses = {value for value, _ in field.flatchoices}
    assert set(table) == statuses
    for targets in table.values():
        assert set(targets) <= statuses
    assert max(len(status) for status in statuses) <= ExportJob._meta.get_field("status").max_length


@pytest.mark.parametrize("name", sorted(discovered_tables()))
def test_transition_moves_a_row_exactly_when_its_table_allows(name):
    """Every (current, new) pair of the table, each on a row of its own. The rows are export
    jobs used as carriers of the table's statuses (a status column takes any short text): the
    helper is generic over the queryset, and this exercises its conditional UPDATE on a real
    table for every pair, which building each model in each status could not do in one test."""
    table = discovered_tables()[name]
    auditor = factories.staff(f"carrier-{name.lower()}", role="Auditor", region_code=None)
    now = timezone.now()
    for current in table:
        for new in table:
            row = ExportJob.objects.create(requested_by=auditor, model_label="carrier", status=current, created_at=now)
            moved = transition(ExportJob.objects.filter(pk=row.pk), table=table, to=new, error=f"{current}->{new}")
            row.refresh_from_db()
            allowed = new in table[current]
            assert moved == int(allowed), (current, new)
            assert (row.status, row.error) == ((new, f"{current}->{new}") if allowed else (current, "")), (current, new)
            assert (current in sources_of(table, new)) == allowed


def test_transition_refuses_a_status_the_table_does_not_know():
    with pytest.raises(ValueError):
        transition(ExportJob.objects.none(), table={ExportStatus.PENDING: frozenset()}, to="archived")


def test_no_decorative_transition_check_is_left():
    """The checks made with constants on both sides could not fail; the tables are applied in
    the UPDATE now. Nothing in the code calls the old check."""
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("enforcement", "reportin", "backoffice", "config")
        for path in (ROOT / package).rglob("*.py")
        if re.search(r"InvalidTransition\.check\(", path.read_text())
    ]
    assert offenders == []
