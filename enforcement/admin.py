"""Django admin for the enforcement domain: every model registered, searchable by UCI and name.

Changes go through services (so they are validated and audited); append-only records are
read-only here. Biometric files have no URL and are never rendered by these pages directly.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _

from enforcement import services
from enforcement.errors import DomainError
from enforcement.models import (
    ActivationCode,
    CircumstanceChange,
    Client,
    ConsentText,
    Escalation,
    InvestigationTask,
    Notification,
    ReferencePhoto,
    Region,
    ReportingCondition,
    ReportingWindow,
    TaskNote,
    User,
)

CLIENT_SEARCH = ["client__uci", "client__family_name", "client__given_name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records that are written by services only (append-only or system-owned)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "name_fr", "code", "time_zone"]
    search_fields = ["name", "name_fr", "code"]

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ["username", "first_name", "last_name", "region", "is_active", "is_staff"]
    list_filter = ["groups", "region", "is_active", "is_staff"]
    fieldsets = BaseUserAdmin.fieldsets + ((_("Region"), {"fields": ["region"]}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + ((_("Region"), {"fields": ["region"]}),)


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["uci", "family_name", "given_name", "region", "case_status", "case_officer", "supervisor_attention"]
    list_filter = ["region", "case_status", "supervisor_attention", "preferred_language"]
    search_fields = ["uci", "family_name", "given_name"]
    list_select_related = ["region", "case_officer"]
    readonly_fields = ["created_at", "updated_at"]
    autocomplete_fields = ["case_officer"]

    def has_delete_permission(self, request, obj=None):
        return False


class ReferencePhotoForm(forms.ModelForm):
    upload = forms.FileField(label=_("Photo"), help_text=_("JPEG, PNG or HEIC; one clear face."))

    class Meta:
        model = ReferencePhoto
        fields = ["client"]


@admin.register(ReferencePhoto)
class ReferencePhotoAdmin(admin.ModelAdmin):
    list_display = ["id", "client", "status", "rejection_message", "active", "model_version", "created_at"]
    list_filter = ["status", "active", "client__region"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    fields = ["client", "status", "rejection_message", "active", "quality", "face_box", "width", "height", "model_version", "uploaded_by", "created_at"]
    readonly_fields = ["status", "rejection_message", "quality", "face_box", "width", "height", "model_version", "uploaded_by", "created_at"]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            return ReferencePhotoForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["client", "upload"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["client", *self.readonly_fields]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
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
    list_display = ["kind", "language", "version", "title", "published_at"]
    list_filter = ["kind", "language"]
    readonly_fields = ["sha256"]


@admin.register(CircumstanceChange)
class CircumstanceChangeAdmin(ReadOnlyAdmin):
    list_display = ["client", "field", "old_value", "new_value", "channel", "recorded_at"]
    list_filter = ["field", "channel"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]


@admin.register(ActivationCode)
class ActivationCodeAdmin(ReadOnlyAdmin):
    list_display = ["client", "issued_by", "issued_at", "expires_at", "used_at", "revoked_at"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client", "issued_by"]
    exclude = ["code_hash"]


@admin.register(ReportingCondition)
class ReportingConditionAdmin(admin.ModelAdmin):
    """A condition is never edited in place: adding one replaces the client's active condition
    (services.condition_set), which regenerates the upcoming windows and keeps the past ones."""

    list_display = ["client", "method", "schedule", "window_start", "window_minutes", "grace_minutes", "starts_on", "ends_on", "active"]
    list_filter = ["method", "schedule", "active", "client__region"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]
    autocomplete_fields = ["client"]
    exclude = ["active"]
    readonly_fields = ["active", "effective_from", "created_by", "created_at", "updated_at"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        fields = {name: value for name, value in form.cleaned_data.items() if name != "client"}
        try:
            condition = services.condition_set(client=form.cleaned_data["client"], set_by=request.user, **fields)
        except DomainError as exc:
            raise ValidationError(str(exc.message)) from None
        obj.pk = condition.pk


class ExcuseForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=1000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))


@admin.register(ReportingWindow)
class ReportingWindowAdmin(ReadOnlyAdmin):
    list_display = ["client", "opens_at", "closes_at", "deadline_at", "status", "satisfied_by_checkin_id"]
    list_filter = ["status", "client__region"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]
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


class TaskNoteInline(admin.TabularInline):
    model = TaskNote
    extra = 0
    fields = ["created_at", "kind", "author", "text"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(InvestigationTask)
class InvestigationTaskAdmin(admin.ModelAdmin):
    list_display = ["id", "client", "reason", "priority", "status", "assignee", "due_by", "created_at"]
    list_filter = ["status", "reason", "priority", "client__region"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client", "assignee"]
    readonly_fields = [
        "client", "reason", "window", "checkin_id", "consent_record", "evidence", "created_at", "updated_at",
        "resolved_by", "resolved_at", "assigned_at",
    ]
    inlines = [TaskNoteInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Escalation)
class EscalationAdmin(ReadOnlyAdmin):
    list_display = ["client", "kind", "status", "proposed_by", "proposed_at", "decided_by", "decided_at"]
    list_filter = ["status", "kind"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client", "proposed_by", "decided_by"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["client", "kind", "status", "send_after", "sent_at", "attempts"]
    list_filter = ["status", "kind"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]

from enforcement import admin_audit  # noqa: E402,F401  (the auditors' views)
