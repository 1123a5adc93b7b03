"""Django admin for devices and check-ins (the triage queue, the task page and the match log
are the back office's: backoffice.admin_tasks, backoffice.auditing). Selfies have no URL (see enforcement.storage): they are shown
only through permission-checked views that write an access record for every image."""

from django.contrib import admin, messages
from django.http import Http404
from django.urls import path
from django.utils.translation import gettext_lazy as _

from enforcement import biometric_images
from enforcement.admin import CLIENT_SEARCH, RegionScopedAdmin, ScopedReadOnlyAdmin, client_time_column
from enforcement.models import BiometricKind
from reportin import services
from reportin.models import CheckIn, Device, FaceMatch


@admin.register(Device)
class DeviceAdmin(RegionScopedAdmin):
    list_display = ["client", "name", "platform", "token_prefix", "activated_at", "last_seen_at", "state", "revoked_at"]
    list_filter = ["platform", "removed_by_person"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client"]
    fields = ["client", "name", "platform", "token_prefix", "activated_at", "last_seen_at", "state", "revoked_at", "revoked_by", "removed_by_person"]
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("state"))
    def state(self, device):
        return device.state

    @admin.action(description=_("Revoke the selected devices (their tokens stop working at once)"), permissions=["change"])
    def revoke(self, request, queryset):
        for device in queryset.filter(revoked_at__isnull=True):
            services.device_revoke(device=device, revoked_by=request.user)
        messages.success(request, _("Devices revoked."))


class FaceMatchInline(admin.StackedInline):
    model = FaceMatch
    can_delete = False
    extra = 0
    exclude = []
    readonly_fields = [
        "decision", "best_distance", "similarity", "threshold", "reference_photo", "distances", "faces_found",
        "face_box", "quality", "replay", "detail", "model_version", "pipeline_version", "duration_ms", "attempts", "scored_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CheckIn)
class CheckInAdmin(ScopedReadOnlyAdmin):
    list_display = [
        "id", "client", "status", "window", "location_result",
        client_time_column("captured_at", _("captured (client's time)")), client_time_column("received_at", _("received")),
    ]
    list_filter = ["status", "location_result", "client__region"]
    search_fields = CLIENT_SEARCH
    list_select_related = ["client__region", "window"]
    exclude = ["selfie", "request_fingerprint", "idempotency_key"]
    date_hierarchy = "received_at"
    inlines = [FaceMatchInline]

    def get_urls(self):
        own = [path("<int:checkin_id>/selfie/", self.admin_site.admin_view(self.selfie_view), name="reportin_checkin_selfie")]
        return own + super().get_urls()

    def selfie_view(self, request, checkin_id):
        # Scoped queryset: another region's check-in answers 404, like one that does not exist.
        checkin = self.get_queryset(request).select_related("client").filter(pk=checkin_id).first()
        if checkin is None:
            raise Http404
        return biometric_images.serve(request, file=checkin.selfie, client=checkin.client, object_type=BiometricKind.SELFIE, object_id=checkin.pk)

