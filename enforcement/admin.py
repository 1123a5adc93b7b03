"""Django admin for the enforcement domain: every model registered, searchable by UCI and name.

Changes go through services (so they are validated and audited); append-only records are
read-only here. Biometric files have no URL: they are shown only through the permission-
checked views of enforcement.biometric_images, which record every access.

Officers see their own region only, everywhere (lists, pages, direct URLs, choices in forms,
exports, images): RegionScopedAdmin below applies enforcement.roles.scope to each admin's
queryset (enforcement/admin_base.py: the one region-scoped read-only base of every list).
Supervisors and auditors see every region; auditors have view permissions only.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from enforcement import activation_locks, biometric_images, condition_words, roles, schedule, selectors, services, slip, times
from enforcement.admin_appointments import ClientAppointmentsAdmin
from enforcement.admin_base import CLIENT_SEARCH, RegionScopedAdmin, ScopedReadOnlyAdmin
from enforcement.admin_messages import ClientMessagesAdmin
from enforcement.errors import DomainError
from enforcement.models import (
    ActivationCode,
    BiometricKind,
    Channel,
    CircumstanceChange,
    Client,
    ConsentDecision,
    ConsentKind,
    ConsentText,
    ContactChannel,
    Escalation,
    Language,
    Notice,
    Notification,
    Office,
    PhotoStatus,
    ReferencePhoto,
    Region,
    ReportingCondition,
    ReportingWindow,
    User,
)


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "name_fr", "code", "time_zone"]
    search_fields = ["name", "name_fr", "code"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Through the service: audited, and a new time zone regenerates its clients' windows.
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        obj.pk = services.region_save(region=obj if change else None, changes=changes, by=request.user).pk


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Staff accounts. Never deleted (their decisions point to them): deactivate instead.
    Every change is audited (services.staff_account_audit)."""

    list_display = ["username", "first_name", "last_name", "region", "is_active", "is_staff"]
    list_filter = ["groups", "region", "is_active", "is_staff"]
    search_fields = ["username", "first_name", "last_name"]
    fieldsets = BaseUserAdmin.fieldsets + ((_("Region"), {"fields": ["region"]}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + ((_("Region"), {"fields": ["region"]}),)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the groups are saved: the audit event names the roles as they now are.
        fields = [name for name in form.changed_data if name not in ("password", "password1", "password2")]
        services.staff_account_audit(user=form.instance, fields=fields, created=not change, by=request.user)

    def user_change_password(self, request, id, form_url=""):
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302:
            services.staff_account_audit(user=self.get_object(request, id), fields=["password"], created=False, by=request.user)
        return response


class AuditedGroupAdmin(GroupAdmin):
    """Roles and their permissions: changes are audited; a role is never deleted."""

    def has_delete_permission(self, request, obj=None):
        return False

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        services.staff_role_audit(group=form.instance, fields=list(form.changed_data), created=not change, by=request.user)


admin.site.unregister(Group)
admin.site.register(Group, AuditedGroupAdmin)


# --- Enrolment: the client's page --------------------------------------------------------------


class ChecklistForm(forms.Form):
    """A form of the enrolment checklist. The checklist sits inside the client's page, above
    the client form's buttons; its fields name their own <form> (after the client form) by
    the `form` attribute, as HTML forms cannot nest."""

    html_form_id = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs["form"] = self.html_form_id


class PhotoUploadForm(ChecklistForm):
    html_form_id = "enrolment-photo-form"
    photo = forms.FileField(label=_("Reference photo"), help_text=_("JPEG, PNG or HEIC; the client alone, facing the camera, in good light."))


class InPersonConsentForm(ChecklistForm):
    html_form_id = "enrolment-consent-form"
    kind = forms.ChoiceField(label=_("Consent"), choices=ConsentKind.choices)
    decision = forms.ChoiceField(label=_("The client's answer"), choices=ConsentDecision.choices)
    language = forms.ChoiceField(label=_("Language of the text read"), choices=Language.choices)
    confirm = forms.BooleanField(
        label=_("The client read (or was read) the current text of this consent in this language, in person."), required=True
    )


class ClientForm(forms.ModelForm):
    """The client's details. A change is checked by the same rules the service applies
    (services.client_update_check), so a refused change comes back as errors on its fields."""

    user = None  # the staff user, set per request (ClientAdmin.get_form)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "case_officer" in self.fields:
            region = self.instance.region if self.instance.pk else None
            # A new client's region is chosen in the same form: every officer is offered, and
            # clean() keeps those of the chosen region.
            self.fields["case_officer"].queryset = (
                services.case_officer_choices(region=region) if region is not None else services.case_officer_choices(region=None, any_region=True)
            ).order_by("username")
            self.fields["case_officer"].help_text = _("An active officer of the client's region, or a supervisor.")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            if self.instance.pk is None:
                services.client_create_check(region=cleaned.get("region"), case_officer=cleaned.get("case_officer"))
            else:
                current = Client.objects.select_related("region", "case_officer").get(pk=self.instance.pk)
                services.client_update_check(client=current, changes=self.editable_changes(), by=self.user)
        except DomainError as exc:
            for field, message in (exc.fields or {None: exc.message}).items():
                self.add_error(field if field in self.fields else None, str(message))
        return cleaned

    def editable_changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.changed_data if name in services.CLIENT_EDITABLE_FIELDS}


@admin.register(Client)
class ClientAdmin(ClientAppointmentsAdmin, ClientMessagesAdmin, RegionScopedAdmin):
    """The client's page is the enrolment checklist: reference photos (with the result of each
    upload at once), reporting condition with its next windows in the client's local time,
    in-person consent, and the activation code for the app (shown once, printable)."""

    region_field = "region"
    list_display = ["uci", "family_name", "given_name", "region", "case_status", "case_officer", "supervisor_attention"]
    list_filter = ["region", "case_status", "supervisor_attention", "preferred_language"]
    search_fields = ["uci", "family_name", "given_name"]
    list_select_related = ["region", "case_officer"]
    readonly_fields = ["created_at", "updated_at"]
    form = ClientForm
    change_form_template = "admin/enforcement/client/change_form.html"

    def has_delete_permission(self, request, obj=None):
        return False

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def get_readonly_fields(self, request, obj=None):
        # The address, employment and family status change through circumstances_update, with history.
        fields = list(self.readonly_fields)
        if obj is not None:
            fields += ["address", "employment", "family_status", "supervisor_attention", "case_closed_at"]
            if services.client_is_enrolled(obj) and not roles.is_supervisor(request.user):
                # The identity factors of activation: a supervisor corrects them.
                fields += list(services.IDENTITY_FIELDS)
        return fields

    def save_model(self, request, obj, form, change):
        if change:
            # Through the service: checked, audited field by field (client.update), windows kept right.
            services.client_update(client=obj, changes=form.editable_changes(), updated_by=request.user)
            obj.refresh_from_db()
            return
        # Through the service: validated the same way, and audited (client.create).
        fields = {name: value for name, value in form.cleaned_data.items() if value not in (None, "")}
        obj.pk = services.client_create(created_by=request.user, **fields).pk

    def get_urls(self):
        own = [
            path("<int:client_id>/photos/", self.admin_site.admin_view(self.photo_upload_view), name="enforcement_client_photo_upload"),
            path("<int:client_id>/consent/", self.admin_site.admin_view(self.consent_view), name="enforcement_client_consent"),
            path(
                "<int:client_id>/activation-code/",
                self.admin_site.admin_view(self.activation_code_view),
                name="enforcement_client_activation_code",
            ),
        ]
        return own + self.message_urls() + self.appointment_urls() + super().get_urls()

    def _client_for_change(self, request, client_id) -> Client:
        client = get_object_or_404(self.get_queryset(request), pk=client_id)
        if not self.has_change_permission(request, client):
            raise PermissionDenied
        return client

    def change_view(self, request, object_id, form_url="", extra_context=None):
        client = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if client is not None:
            now = timezone.now()
            condition = selectors.condition_active(client=client)
            can_change = self.has_change_permission(request, client)
            consent_states = selectors.consent_states(client=client)
            likeness = consent_states[ConsentKind.BIOMETRIC].record
            photos = list(client.reference_photos.order_by("created_at"))
            extra.update(
                enrolment=True,
                can_enrol=can_change,
                photos=photos,
                may_view_photos=biometric_images.may_view(request.user, client),
                photo_form=PhotoUploadForm(),
                condition=condition,
                upcoming=condition_preview(condition, client, now) if condition else [],
                condition_summary=condition_words.condition_summary(condition, client.local_time_zone) if condition else "",
                area_summary=condition_words.area_summary(condition, Office.objects.filter(region=client.region_id)) if condition else "",
                client_time_zone=client.local_time_zone,
                consents=[(ConsentKind(kind).label, state) for kind, state in consent_states.items()],
                likeness_withdrawn=likeness is not None and likeness.decision != ConsentDecision.GRANTED,
                reenrolment_needed=any(p.status == PhotoStatus.PURGED for p in photos) and not any(p.status == PhotoStatus.READY for p in photos),
                consent_form=InPersonConsentForm(initial={"language": client.preferred_language}),
                codes=list(client.activation_codes.select_related("issued_by")[:5]),
                activation_lock=activation_locks.state(uci=client.uci, now=now),
                message_section=self.message_section(request, client),
                appointment_section=self.appointment_section(request, client),
            )
        return super().change_view(request, object_id, form_url, extra)

    def photo_upload_view(self, request, client_id):
        client = self._client_for_change(request, client_id)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:enforcement_client_change", args=[client.pk]))
        form = PhotoUploadForm(request.POST, request.FILES)
        if not form.is_valid():
            messages.error(request, _("Choose a photo to upload."))
        else:
            try:
                photo = services.reference_photo_add(client=client, data=form.cleaned_data["photo"].read(), uploaded_by=request.user)
            except DomainError as exc:
                messages.error(request, _("The photo was refused: %(reason)s") % {"reason": exc.message})
            else:
                if photo.status == "ready":
                    messages.success(request, _("Reference photo %(id)d is ready for comparisons.") % {"id": photo.pk})
                else:
                    messages.warning(
                        request, _("Reference photo %(id)d was rejected: %(reason)s") % {"id": photo.pk, "reason": photo.rejection_message}
                    )
        return HttpResponseRedirect(reverse("admin:enforcement_client_change", args=[client.pk]) + "#enrolment-photos")

    def consent_view(self, request, client_id):
        client = self._client_for_change(request, client_id)
        if not request.user.has_perm("enforcement.add_consentrecord"):
            raise PermissionDenied
        if request.method == "POST":
            form = InPersonConsentForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    text = services.consent_text_current(kind=data["kind"], language=data["language"])
                    services.consent_record(
                        client=client, kind=data["kind"], decision=data["decision"], text_version=text.version,
                        language=data["language"], channel=Channel.IN_PERSON, recorded_by=request.user,
                    )
                except DomainError as exc:
                    messages.error(request, str(exc.message))
                else:
                    messages.success(
                        request,
                        _("Recorded in person: %(kind)s, %(decision)s (text version %(version)s).")
                        % {"kind": ConsentKind(data["kind"]).label, "decision": ConsentDecision(data["decision"]).label, "version": text.version},
                    )
            else:
                messages.error(request, _("Confirm that the client read the text, and choose the consent and the answer."))
        return HttpResponseRedirect(reverse("admin:enforcement_client_change", args=[client.pk]) + "#enrolment-consent")

    def activation_code_view(self, request, client_id):
        client = self._client_for_change(request, client_id)
        if not request.user.has_perm("enforcement.add_activationcode"):
            raise PermissionDenied
        if request.method != "POST":
            # The code is shown once, in the answer to the request that made it; a reload
            # or a bookmark never shows it again.
            return HttpResponseRedirect(reverse("admin:enforcement_client_change", args=[client.pk]))
        code, record = services.activation_code_issue(client=client, issued_by=request.user)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Activation code"),
            "opts": self.model._meta,
            "original": client,
            "client": client,
            "code": code,
            "record": record,
            "expires_local": record.expires_at.astimezone(schedule.zone(client.local_time_zone)).replace(tzinfo=None),
            "client_time_zone": client.local_time_zone,
            "app_url": slip.app_address(request),
        }
        context["app_qr"] = slip.qr_svg(context["app_url"])
        response = TemplateResponse(request, "admin/enforcement/client/activation_code.html", context)
        response["Cache-Control"] = "no-store, private"
        return response


def condition_preview(condition: ReportingCondition, client: Client, now, count: int = 5) -> list[dict]:
    """The next `count` windows of a condition (saved or not), in the client's local time."""
    if condition.method != "remote":
        return []
    tz_name = client.local_time_zone
    tz = schedule.zone(tz_name)
    return [
        # Naive local times: the template must show them as they are, not in the server's zone.
        {key: at.astimezone(tz).replace(tzinfo=None) for key, at in (("opens", w.opens_at), ("closes", w.closes_at), ("deadline", w.deadline_at))}
        for w in schedule.upcoming(condition, tz_name, now, count)
    ]


class ReferencePhotoForm(forms.ModelForm):
    upload = forms.FileField(label=_("Photo"), help_text=_("JPEG, PNG or HEIC; one clear face."))

    clients = Client.objects.all()  # narrowed to the officer's region per request

    class Meta:
        model = ReferencePhoto
        fields = ["client"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client"].queryset = self.clients


@admin.register(ReferencePhoto)
class ReferencePhotoAdmin(RegionScopedAdmin):
    list_display = ["id", "client", "status", "rejection_message", "active", "model_version", "created_at"]
    list_filter = ["status", "active", "client__region"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    fields = ["client", "status", "rejection_message", "active", "quality", "face_box", "width", "height", "model_version", "uploaded_by", "created_at"]
    readonly_fields = ["status", "rejection_message", "quality", "face_box", "width", "height", "model_version", "uploaded_by", "created_at"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            clients = roles.scope(Client.objects.all(), request.user, "region")
            return type("ScopedReferencePhotoForm", (ReferencePhotoForm,), {"clients": clients})
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["client", "upload"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["client", *self.readonly_fields]

    def get_urls(self):
        own = [path("<int:photo_id>/image/", self.admin_site.admin_view(self.image_view), name="enforcement_referencephoto_image")]
        return own + super().get_urls()

    def image_view(self, request, photo_id):
        # Scoped queryset: a photo of another region answers 404, like one that does not exist.
        photo = self.get_queryset(request).select_related("client").filter(pk=photo_id).first()
        if photo is None:
            raise Http404
        return biometric_images.serve(
            request, file=photo.image, client=photo.client, object_type=BiometricKind.REFERENCE_PHOTO, object_id=photo.pk
        )

    def save_model(self, request, obj, form, change):
        if change:
            if "active" in form.changed_data:
                services.reference_photo_set_active(photo=obj, active=form.cleaned_data["active"], by=request.user)
            return
        upload = form.cleaned_data["upload"]
        try:
            photo = services.reference_photo_add(client=form.cleaned_data["client"], data=upload.read(), uploaded_by=request.user)
        except DomainError as exc:
            raise ValidationError(str(exc.message)) from None
        obj.pk = photo.pk
        if photo.status == "ready":
            messages.success(request, _("The photo is ready for comparisons."))
        else:
            messages.warning(request, _("The photo was rejected: %(reason)s") % {"reason": photo.rejection_message})

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ConsentText)
class ConsentTextAdmin(admin.ModelAdmin):
    """A published text is what people consented to: it is never edited or deleted. A new
    wording is a new version (a new row), published through services.consent_text_publish,
    which records the sha256 of the exact text."""

    list_display = ["kind", "language", "version", "title", "published_at"]
    list_filter = ["kind", "language"]
    fields = ["kind", "language", "version", "title", "body", "sha256", "published_at"]
    readonly_fields = ["sha256", "published_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        text = services.consent_text_publish(
            kind=data["kind"], language=data["language"], version=data["version"], title=data["title"], body=data["body"],
            published_by=request.user,
        )
        obj.pk = text.pk


@admin.register(CircumstanceChange)
class CircumstanceChangeAdmin(ScopedReadOnlyAdmin):
    list_display = ["client", "field", "old_value", "new_value", "channel", "recorded_at"]
    list_filter = ["field", "channel"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]


@admin.register(ActivationCode)
class ActivationCodeAdmin(ScopedReadOnlyAdmin):
    list_display = ["client", "issued_by", "issued_at", "expires_at", "used_at", "revoked_at"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client", "issued_by"]
    exclude = ["code_hash"]


class OfficeSelect(forms.Select):
    """Offices as the preset centre of a permitted area: each option carries the office's
    coordinates, which the page's script copies into the latitude and longitude fields."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        office = getattr(value, "instance", None)
        if office is not None:
            option["attrs"].update({"data-latitude": office.latitude, "data-longitude": office.longitude})
        return option


# The condition's own fields (the form adds area_office, a preset for the area's centre).
CONDITION_FIELDS = [
    "client", "method", "schedule", "weekdays", "interval_days", "day_of_month", "window_start", "window_minutes",
    "grace_minutes", "starts_on", "ends_on", "area_latitude", "area_longitude", "area_radius_km", "single_selfie_allowed",
]


class WeekdayBoxes(forms.CheckboxSelectMultiple):
    template_name = "enforcement/widgets/weekday_boxes.html"


class ConditionForm(forms.ModelForm):
    """The condition form for people: the days of the week as boxes to tick (the model keeps
    its bitmask), the permitted area centred on an office or on coordinates typed in, and
    "Preview": the schedule in words and the next five windows in the client's local time,
    shown before anything is saved."""

    PREVIEW = "_preview"
    user = None  # the staff user, set per request (ReportingConditionAdmin.get_form)

    weekdays = forms.TypedMultipleChoiceField(
        label=_("Days of the week"), choices=[(day, name) for day, name in enumerate(condition_words.WEEKDAYS)], coerce=int,
        required=False, widget=WeekdayBoxes, help_text=_("Weekly schedules: tick each day the client reports."),
    )
    area_office = forms.ModelChoiceField(
        label=_("Centre of the permitted area: an office"), queryset=Office.objects.none(), required=False, widget=OfficeSelect,
        empty_label=_("— no office: type the coordinates —"),
        help_text=_("Choosing an office fills in its coordinates below; you can still change them."),
    )

    class Meta:
        model = ReportingCondition
        fields = CONDITION_FIELDS
        help_texts = {
            "area_latitude": _("Decimal degrees, -90 to 90 (e.g. 43.6453)."),
            "area_longitude": _("Decimal degrees, -180 to 180; west is negative (e.g. -79.3806)."),
            "area_radius_km": _("Leave the area empty for no area check."),
        }

    # The field each schedule needs. (The database's check lets a NULL through, as SQL checks
    # do; the scheduler cannot work without it.)
    NEEDS = {"weekly": "weekdays", "every_n_days": "interval_days", "monthly": "day_of_month"}
    MAX_RADIUS_KM = 1000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        offices = Office.objects.filter(active=True, latitude__isnull=False, longitude__isnull=False).select_related("region")
        if self.user is not None:
            offices = roles.scope(offices, self.user, "region")
        self.fields["area_office"].queryset = offices.order_by("region__name", "name")
        self.fields["area_office"].label_from_instance = lambda office: f"{office.name} ({office.region.name})"
        mask = self.initial.get("weekdays")
        if isinstance(mask, int):
            self.initial["weekdays"] = condition_words.weekdays_from_mask(mask)

    def clean_weekdays(self) -> int:
        return condition_words.weekdays_to_mask(self.cleaned_data.get("weekdays") or [])

    def clean(self):
        cleaned = super().clean()
        self.preview = None
        schedule_name = cleaned.get("schedule")
        needed = self.NEEDS.get(schedule_name)
        if needed == "weekdays" and not cleaned.get("weekdays") and "weekdays" not in self.errors:
            self.add_error("weekdays", _("Tick at least one day of the week."))
        elif needed and not cleaned.get(needed) and needed not in self.errors:
            self.add_error(needed, _("This schedule needs this field."))
        if schedule_name != "weekly" and "weekdays" in cleaned:
            cleaned["weekdays"] = 0  # days ticked, then another schedule chosen: not kept
        starts_on, ends_on = cleaned.get("starts_on"), cleaned.get("ends_on")
        if starts_on and ends_on and ends_on < starts_on:
            self.add_error("ends_on", _("The end date is before the start date."))
        self._clean_area(cleaned)
        client = cleaned.get("client")
        if self.PREVIEW in self.data and client is not None and not self.errors:
            fields = {k: v for k, v in cleaned.items() if k in CONDITION_FIELDS and k != "client"}
            probe = ReportingCondition(**fields, client=client)
            self.preview = condition_preview(probe, client, timezone.now())
            self.preview_time_zone = client.local_time_zone
            self.preview_summary = condition_words.condition_summary(probe, client.local_time_zone)
            self.preview_area = condition_words.area_summary(probe, self.fields["area_office"].queryset)
            # Not an error: the form comes back with the preview, to be saved with "Save".
            raise ValidationError(_("Preview only, nothing is saved yet: check the next windows below, then save."), code="preview")
        return cleaned

    def _clean_area(self, cleaned):
        office = cleaned.get("area_office")
        lat, lon, radius = cleaned.get("area_latitude"), cleaned.get("area_longitude"), cleaned.get("area_radius_km")
        if any(name in self.errors for name in ("area_latitude", "area_longitude", "area_radius_km")):
            return
        if office is not None and lat is None and lon is None:
            # Without the page's script: the office's coordinates.
            lat, lon = cleaned["area_latitude"], cleaned["area_longitude"] = office.latitude, office.longitude
            data = self.data.copy()
            data[self.add_prefix("area_latitude")], data[self.add_prefix("area_longitude")] = lat, lon
            self.data = data
        if lat is not None and not -90 <= lat <= 90:
            self.add_error("area_latitude", _("A latitude is between -90 and 90 degrees."))
        if lon is not None and not -180 <= lon <= 180:
            self.add_error("area_longitude", _("A longitude is between -180 and 180 degrees."))
        if (lat is None) != (lon is None):
            self.add_error("area_longitude" if lon is None else "area_latitude", _("Give both the latitude and the longitude of the centre."))
        if radius is not None and not 0 < radius <= self.MAX_RADIUS_KM:
            self.add_error("area_radius_km", _("The radius is more than 0 and at most %(max)d km.") % {"max": self.MAX_RADIUS_KM})
        elif lat is not None and lon is not None and radius is None:
            self.add_error("area_radius_km", _("Give the radius of the permitted area around its centre."))
        elif radius is not None and lat is None and lon is None:
            self.add_error("area_office", _("Choose an office or type the coordinates of the centre of the permitted area."))


@admin.register(ReportingCondition)
class ReportingConditionAdmin(RegionScopedAdmin):
    """A condition is never edited in place: adding one replaces the client's active condition
    (services.condition_set), which regenerates the upcoming windows and keeps the past ones.
    Saving returns to the client's enrolment checklist."""

    form = ConditionForm
    list_display = ["client", "method", "schedule", "window_start", "window_minutes", "grace_minutes", "starts_on", "ends_on", "active"]
    list_filter = ["method", "schedule", "active", "client__region"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    exclude = ["active"]
    readonly_fields = ["active", "effective_from", "created_by", "created_at", "updated_at"]
    add_form_template = "admin/enforcement/reportingcondition/change_form.html"
    add_fieldsets = [
        (None, {"fields": ["client", "method", "single_selfie_allowed"]}),
        (_("When"), {"fields": [
            "schedule", "weekdays", "interval_days", "day_of_month", "window_start", "window_minutes", "grace_minutes", "starts_on", "ends_on",
        ]}),
        (_("Permitted area"), {
            "fields": ["area_office", ("area_latitude", "area_longitude"), "area_radius_km"],
            "description": _("Where the client may report from: a centre (an office, or coordinates) and a radius. Leave it all empty for no area check."),
        }),
    ]

    class Media:
        js = ["enforcement/condition_form.js"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"user": request.user})

    def save_model(self, request, obj, form, change):
        fields = {name: value for name, value in form.cleaned_data.items() if name in CONDITION_FIELDS and name != "client"}
        try:
            condition = services.condition_set(client=form.cleaned_data["client"], set_by=request.user, **fields)
        except DomainError as exc:
            raise ValidationError(str(exc.message)) from None
        obj.pk = condition.pk

    def add_view(self, request, form_url="", extra_context=None):
        # The way back to the checklist of the client the condition is for (when known).
        client_id = request.POST.get("client") or request.GET.get("client")
        client = roles.scope(Client.objects.all(), request.user, "region").filter(pk=client_id).first() if str(client_id).isdigit() else None
        extra = {**(extra_context or {}), "checklist_client": client}
        return super().add_view(request, form_url, extra)

    def response_add(self, request, obj, post_url_continue=None):
        if "_addanother" in request.POST or "_popup" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        client = obj.client
        messages.success(
            request,
            _("The reporting condition of %(client)s is saved: %(summary)s.")
            % {"client": client, "summary": condition_words.condition_summary(obj, client.local_time_zone)},
        )
        return HttpResponseRedirect(reverse("admin:enforcement_client_change", args=[client.pk]) + "#enrolment-condition")


class ExcuseForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


def client_time_column(field: str, description):
    """A list column of a client's record: its time `field` in the client's local zone, named
    (enforcement.times). The list selects `client__region`."""

    @admin.display(description=description, ordering=field)
    def column(obj):
        return times.shown(getattr(obj, field), times.client_zone(obj.client))

    return column


@admin.register(ReportingWindow)
class ReportingWindowAdmin(ScopedReadOnlyAdmin):
    list_display = [
        "client", client_time_column("opens_at", _("opens (client's time)")), client_time_column("closes_at", _("closes")),
        client_time_column("deadline_at", _("deadline")), "status", "satisfied_by_checkin_id",
    ]
    list_filter = ["status", "client__region"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client__region"]
    date_hierarchy = "opens_at"
    actions = ["excuse"]

    def has_excuse_permission(self, request):
        return request.user.has_perm("enforcement.change_reportingwindow")

    @admin.action(description=_("Excuse the selected windows"), permissions=["excuse"])
    def excuse(self, request, queryset):
        form = ExcuseForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": _("Excuse reporting windows"),
                "opts": self.model._meta,
                "windows": queryset,
                "form": form,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/enforcement/reportingwindow/excuse.html", context)
        excused = 0
        for window in queryset:
            try:
                services.window_excuse(window=window, officer=request.user, reason=form.cleaned_data["reason"])
                excused += 1
            except DomainError as exc:
                messages.error(request, f"{window}: {exc.message}")
        messages.success(request, _("%(count)d window(s) excused.") % {"count": excused})
        return None


@admin.register(Escalation)
class EscalationAdmin(ScopedReadOnlyAdmin):
    """Escalations are proposed and signed off on their task's page (four eyes)."""

    list_display = ["client", "kind", "status", "task", "proposed_by", "proposed_at", "decided_by", "decided_at"]
    list_filter = ["status", "kind", "client__region"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client", "proposed_by", "decided_by", "task"]


@admin.register(Notification)
class NotificationAdmin(ScopedReadOnlyAdmin):
    list_display = ["client", "kind", "channel", "status", "send_after", "sent_at", "delivered_at", "attempts", "last_error"]
    list_filter = ["status", "channel", "kind"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]

@admin.register(ContactChannel)
class ContactChannelAdmin(ScopedReadOnlyAdmin):
    """The person's channel choices with the consent they gave (changed by them in the app)."""

    list_display = ["client", "channel", "chosen_at", "ended_at", "consent_language", "recorded_via"]
    list_filter = ["channel", "recorded_via"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]


@admin.register(Notice)
class NoticeAdmin(ScopedReadOnlyAdmin):
    list_display = ["client", "kind", "created_at", "read_at"]
    list_filter = ["kind"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]


@admin.register(Office)
class OfficeAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "phone", "hours", "main", "active"]
    list_filter = ["region", "active"]

    def has_delete_permission(self, request, obj=None):
        return False  # notices name it: an office that closes is made inactive

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data}
        obj.pk = services.office_save(office=obj if change else None, changes=changes, by=request.user).pk


