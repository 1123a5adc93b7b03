"""Every admin write goes through a service that writes an audit event. The forms and actions
are found by walking the admin registry (a new writable page fails here until it is audited);
a new add form also needs a sample below, since a valid new row cannot be guessed."""

from datetime import timedelta

import pytest
from django import forms
from django.contrib import admin
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory

from enforcement.models import (
    AuditEvent,
    Client,
    ConsentText,
    InvestigationTask,
    Office,
    ReferencePhoto,
    Region,
    ReportingCondition,
    User,
)
from tests import factories, images
from tests.officer import window_task

pytestmark = pytest.mark.django_db


def _add_samples(world) -> dict:
    """A valid new row for each add form (the form itself is found in the registry)."""
    return {
        Client: lambda: {
            "uci": "31000009", "given_name": "Ana", "family_name": "Lopes", "date_of_birth": "1991-02-03",
            "country_of_citizenship": "BR", "preferred_language": "en", "region": factories.region("gta").pk, "case_status": "monitored",
        },
        ReferencePhoto: lambda: {"client": world["client"].pk, "upload": SimpleUploadedFile("a.jpg", images.jpeg(images.astronaut()))},
        ReportingCondition: lambda: {
            "client": world["client"].pk, "method": "remote", "schedule": "weekly", "weekdays": [0, 1], "window_start": "09:00",
            "window_minutes": 120, "grace_minutes": 30, "starts_on": "2030-03-01",
        },
        ConsentText: lambda: {"kind": "app_use", "language": "en", "version": "2099-01", "title": "Use of the app", "body": "New text."},
        Region: lambda: {"code": "north", "name": "North", "name_fr": "Nord", "time_zone": "America/Yellowknife"},
        User: lambda: {"username": "new-officer", "password1": "a-Long-passw0rd!", "password2": "a-Long-passw0rd!", "usable_password": "true"},
        Group: lambda: {"name": "Trainee"},
        Office: lambda: {
            "region": factories.region("gta").pk, "name": "Scarborough office", "name_fr": "Bureau de Scarborough",
            "address": "2 Main St", "hours": "Mon-Fri 9-15", "hours_fr": "lun.-ven. 9 h-15 h", "phone": "+1 416-555-0111",
        },
    }


# Pages that replace the change form with their own (the task page, whose decisions post to
# addresses of their own): (the address under the row's, the data).
CUSTOM_CHANGE_POSTS = {InvestigationTask: ("assign-me/", {})}
# Actions whose form needs a choice that cannot be guessed (to whom tasks are reassigned).
# (A supervisor made at that point: by then the walk above has edited the staff accounts and role groups.)
ACTION_POSTS = {"action:reassign_tasks": lambda world: {"assignee": factories.staff("world-supervisor", role="Supervisor").pk}}


@pytest.fixture
def world(media_root):
    officer = factories.staff("world-officer")
    person = factories.client(officer=officer)
    factories.reference_photo(person)
    factories.consent_both(person)
    factories.condition(person)
    factories.device(person)
    window_task()
    root = User.objects.create_superuser("root", password="root-password-123")
    from enforcement import services as enforcement_services

    enforcement_services.office_save(
        office=None, by=root,
        changes={"region": factories.region("gta"), "name": "Toronto office", "name_fr": "Bureau de Toronto", "address": "1 Front St",
                 "hours": "Mon-Fri 8-16", "hours_fr": "lun.-ven. 8 h-16 h", "phone": "+1 416-555-0100"},
    )
    # Staff sign-in rows, made as sign-ins make them: a wrong password, and a passkey enrolled.
    from backoffice import services as backoffice_services
    from tests.webauthn_soft import SoftKey

    backoffice_services.staff_login_attempt(username=officer.username, password="wrong", address="203.0.113.9")
    session = {}
    options = backoffice_services.webauthn_registration_options(user=officer, session=session, rp_id="testserver")
    backoffice_services.webauthn_register(
        user=officer, session=session, credential=SoftKey().register(options), rp_id="testserver", origin="http://testserver"
    )
    return {"officer": officer, "client": person, "root": root}


def writable(root) -> list[tuple]:
    """(model, model_admin, what) for every add form, change form and action a superuser can
    write through, as the admin registry says."""
    request = RequestFactory().get("/admin/")
    request.user = root
    found = []
    for model, model_admin in admin.site._registry.items():
        if model_admin.has_add_permission(request):
            found.append((model, model_admin, "add"))
        if model_admin.has_change_permission(request):
            found.append((model, model_admin, "change"))
        for name, (func, _name, _description) in model_admin.get_actions(request).items():
            if set(getattr(func, "allowed_permissions", ())) - {"view"}:
                found.append((model, model_admin, f"action:{name}"))
    return found


def form_data(form) -> dict:
    """What the browser would send back for `form` as shown."""
    data = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form[name].value()
        if isinstance(field.widget, forms.MultiWidget):
            for index, part in enumerate(field.widget.decompress(value)):
                data[f"{name}_{index}"] = "" if part is None else str(part)
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = str(value)
    return data


def edits(form, data):
    """Changed copies of `data`: each text field in turn, then each check box."""
    for name, field in form.fields.items():
        if field.disabled or isinstance(field, forms.ChoiceField | forms.EmailField) or not isinstance(field, forms.CharField):
            continue
        yield {**data, name: f"{data.get(name, '')}x"}
    for name, field in form.fields.items():
        if isinstance(field, forms.BooleanField) and not field.disabled:
            yield {k: v for k, v in data.items() if k != name} if name in data else {**data, name: "on"}


def url(model, what, pk=None) -> str:
    base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    return {"add": f"{base}add/", "change": f"{base}{pk}/change/"}.get(what, base)


def test_every_admin_write_writes_an_audit_event(client, world):
    root = world["root"]
    factories.staff_login(client, root)
    samples = _add_samples(world)
    pages = writable(root)
    assert {(m, w) for m, _, w in pages} >= {(Client, "change"), (Client, "add"), (ConsentText, "add")}
    failures = []
    for model, model_admin, what in pages:
        label = f"{model._meta.label} {what}"
        before = AuditEvent.objects.count()
        if what == "add":
            if model not in samples:
                failures.append(f"{label}: a new add form; give it a sample in this test")
                continue
            response = client.post(url(model, "add"), samples[model]())
            succeeded = response.status_code == 302
        elif what == "change":
            request = RequestFactory().get("/")
            request.user = root
            obj = model_admin.get_queryset(request).order_by("pk").first()
            if obj is None:
                failures.append(f"{label}: no row to change in the test world")
                continue
            if model in CUSTOM_CHANGE_POSTS:
                where, data = CUSTOM_CHANGE_POSTS[model]
                response = client.post(url(model, "change", obj.pk).removesuffix("change/") + where, data)
                succeeded = response.status_code == 302
            else:
                page = client.get(url(model, "change", obj.pk))
                if "adminform" not in page.context:
                    failures.append(f"{label}: a custom change page; add its POST to CUSTOM_CHANGE_POSTS")
                    continue
                form = page.context["adminform"].form
                if not any(not field.disabled for field in form.fields.values()):
                    continue  # every field read-only (its writes are actions, tried below)
                succeeded = False
                for data in edits(form, form_data(form)):
                    response = client.post(url(model, "change", obj.pk), data)
                    if response.status_code == 302:
                        succeeded = True
                        break
        else:
            request = RequestFactory().get("/")
            request.user = root
            obj = model_admin.get_queryset(request).order_by("pk").first()
            if obj is None:
                failures.append(f"{label}: no row to act on in the test world")
                continue
            response = client.post(
                url(model, what),
                {
                    "action": what.split(":", 1)[1], "_selected_action": [obj.pk], "index": 0, "apply": "1", "reason": "Test.", "post": "yes",
                    **(ACTION_POSTS[what](world) if what in ACTION_POSTS else {}),
                },
            )
            succeeded = response.status_code in (200, 302)
        if not succeeded:
            failures.append(f"{label}: the write did not go through")
        elif AuditEvent.objects.count() == before:
            failures.append(f"{label}: no audit event")
    assert failures == [], "\n".join(failures)
    # A closer look at the one officers use most: the client's page records old and new values.
    event = AuditEvent.objects.filter(action="client.update").latest("seq")
    (field, change), = event.details["changes"].items()
    assert change["new"] == f"{change['old']}x"
    assert event.actor == root and event.occurred_at > event.occurred_at - timedelta(seconds=1)
