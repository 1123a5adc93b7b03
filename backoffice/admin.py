from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from backoffice import admin_tasks, audit_lists, auditing, services, workspace
from backoffice.models import LoginThrottle, TotpDevice, WebAuthnCredential
from enforcement.admin_base import ReadOnlyAdmin
from enforcement.models import AccessRecord, AuditEvent, ConsentRecord, Decision, InvestigationTask, User
from reportin.models import FaceMatch


@admin.register(LoginThrottle)
class LoginThrottleAdmin(ReadOnlyAdmin):
    """Supervisors see who is locked out (or being guessed at) and clear locks."""

    list_display = ["scope", "key", "failures", "locked", "last_failure_at", "blocked_until", "locked_at"]
    list_filter = ["scope", ("locked_at", admin.EmptyFieldListFilter)]
    search_fields = ["key"]
    actions = ["clear_lock"]
    readonly_fields = ["scope", "key", "failures", "last_failure_at", "blocked_until", "locked_at"]

    @admin.display(boolean=True, description=_("locked"), ordering="locked_at")
    def locked(self, obj):
        return obj.is_locked

    def has_clear_lock_permission(self, request):
        return request.user.has_perm("backoffice.clear_login_lock")

    @admin.action(description=_("Clear the lock and the failures of the selected rows"), permissions=["clear_lock"])
    def clear_lock(self, request, queryset):
        ids = list(queryset.values_list("pk", flat=True))
        for throttle_id in ids:
            services.login_lock_clear(throttle_id=throttle_id, cleared_by=request.user)
        self.message_user(request, ngettext("%d row cleared.", "%d rows cleared.", len(ids)) % len(ids), messages.SUCCESS)


class _SecondFactorAdmin(admin.ModelAdmin):
    """Read-only lists; a superuser deletes a lost key or app so its owner can enrol again
    (through services.second_factor_remove, audited)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def delete_model(self, request, obj):
        services.second_factor_remove(factor=obj, removed_by=request.user)

    def delete_queryset(self, request, queryset):
        for factor in queryset:
            services.second_factor_remove(factor=factor, removed_by=request.user)


@admin.register(WebAuthnCredential)
class WebAuthnCredentialAdmin(_SecondFactorAdmin):
    list_display = ["user", "name", "created_at", "last_used_at"]
    search_fields = ["user__username", "name"]
    exclude = ["public_key"]


@admin.register(TotpDevice)
class TotpDeviceAdmin(_SecondFactorAdmin):
    list_display = ["user", "created_at", "confirmed_at"]
    search_fields = ["user__username"]
    exclude = ["secret"]


class AssigneeFilter(admin.SimpleListFilter):
    """One officer's tasks (?assignee=<id>), the way from the workload page to the tasks to
    move; shown in the sidebar only while it is in use (a list of every officer would be long)."""

    title = _("officer")
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        value = self.value()
        if not (value and value.isdigit()):
            return []
        return [(value, str(User.objects.filter(pk=value).first() or value))]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(assignee_id=value) if value and value.isdigit() else queryset


class TriageQueueAdmin(admin_tasks.InvestigationTaskAdmin):
    """The triage queue and task page (backoffice.admin_tasks) with the supervisors' bulk
    reassignment (backoffice.workspace) and a filter by officer."""

    actions = [*admin_tasks.InvestigationTaskAdmin.actions, "reassign_tasks"]
    list_filter = [*admin_tasks.InvestigationTaskAdmin.list_filter, AssigneeFilter]

    def has_reassign_permission(self, request):
        return workspace.may_reassign(request.user)

    @admin.action(description=_("Reassign the selected tasks"), permissions=["reassign"])
    def reassign_tasks(self, request, queryset):
        return workspace.reassign_tasks(self, request, queryset)


admin.site.register(InvestigationTask, TriageQueueAdmin)
# The auditors' lists (backoffice.audit_lists) and the match log (backoffice.auditing).
admin.site.register(ConsentRecord, audit_lists.ConsentRecordAdmin)
admin.site.register(AccessRecord, audit_lists.AccessRecordAdmin)
admin.site.register(Decision, audit_lists.DecisionLogAdmin)
admin.site.register(AuditEvent, audit_lists.AuditEventAdmin)
admin.site.register(FaceMatch, auditing.FaceMatchAdmin)
