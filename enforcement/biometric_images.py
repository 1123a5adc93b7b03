"""The one way a biometric image leaves the server: a view that checks the viewer's permission
and region, writes an AccessRecord, and answers with headers that keep the image out of
caches. Selfies (reportin) and reference photos (here) both go through `serve`."""

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.utils.translation import gettext as _

from biometrics import images
from enforcement import crypto, http, roles, services
from enforcement.models import Client, InvestigationTask

VIEW_BIOMETRICS = "enforcement.view_biometrics"
_CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "heif": "image/heif"}


def may_view(user, client: Client) -> bool:
    return user.is_active and user.is_staff and user.has_perm(VIEW_BIOMETRICS) and roles.may_see_region(user, client.region_id)


def serve(
    request, *, file, client: Client, object_type: str, object_id: int, task: InvestigationTask | None = None,
    face_box=None, turned_degrees: int = 0,
) -> HttpResponse:
    """The image; with `?face=1` and a known `face_box`, a crop of the face (made here from the
    decrypted image, so that the page can show faces at a size a person can judge)."""
    if not (request.user.is_active and request.user.is_staff and request.user.has_perm(VIEW_BIOMETRICS)):
        raise PermissionDenied
    if not roles.may_see_region(request.user, client.region_id):
        raise PermissionDenied
    if not file:
        raise Http404
    try:
        with file.open("rb") as handle:  # decrypted by enforcement.storage, for its own record
            data = handle.read()
    except crypto.DecryptionError as exc:
        # Moved from another record, altered, or under a key that is gone: never shown, and
        # recorded for the auditors (crypto logs it too).
        services.audit_record(
            actor=request.user, action="biometric.open_failed", client=client,
            details={"object_type": object_type, "object_id": object_id, "error": str(exc)},
        )
        return HttpResponse(
            _("This image does not open for its record: it was moved from another record or altered. The failure was recorded."),
            status=409, content_type="text/plain; charset=utf-8",
        )
    services.biometric_access_record(
        viewer=request.user, client=client, object_type=object_type, object_id=object_id, task=task,
        ip_address=http.client_address(request),
    )
    # Stored copies are clean JPEGs (biometrics.images.stored_copy), except a selfie the worker
    # has not turned into one yet: it is kept as uploaded, metadata stripped.
    if face_box and request.GET.get("face") == "1":
        try:
            data = images.face_crop(data, face_box, turned_degrees=turned_degrees)
        except images.ImageRejected:
            pass  # the whole image, as stored
    kind = images.sniff_format(data)
    response = HttpResponse(data, content_type=_CONTENT_TYPES.get(kind, "application/octet-stream"))
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    return response
