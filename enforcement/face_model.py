"""Face model upgrades without a flood of non-matches (README, "Face model upgrades").

Encodings are comparable only within one model version (biometrics.faces.MODEL_VERSION). A
reference photo keeps the encoding made at enrolment (`ReferencePhoto.encoding`, of its
`model_version`); `manage.py reencode_references` adds one per photo for the current model
(`ReferenceEncoding`) while the old model still runs. Scoring reads only encodings of the
current model (`encodings_for`), and a system check (also run by a scoring worker at start)
refuses a model that active clients have no ready reference for."""

from django.core import checks
from django.db import DatabaseError
from django.db.models import Exists, OuterRef, Q

from biometrics import faces
from enforcement import crypto
from enforcement.models import CaseStatus, Client, PhotoStatus, ReferenceEncoding, ReferencePhoto

# Cases that no longer report: no check-in will be scored for them.
INACTIVE_CASES = (CaseStatus.REMOVED, CaseStatus.CLOSED)
COMMAND = "python manage.py reencode_references"


def _reencoded(version: str, *, ok_only: bool):
    rows = ReferenceEncoding.objects.filter(photo=OuterRef("pk"), model_version=version)
    return Exists(rows.filter(outcome=faces.Outcome.OK) if ok_only else rows)


def ready_for(version: str):
    """Ready reference photos that have an encoding of `version` (their own or a re-encoding)."""
    return ReferencePhoto.objects.filter(status=PhotoStatus.READY).filter(
        Q(model_version=version, encoding__isnull=False) | _reencoded(version, ok_only=True)
    )


def to_reencode(version: str):
    """Ready photos with an image and no encoding attempt yet by `version`, oldest first."""
    return (
        ReferencePhoto.objects.filter(status=PhotoStatus.READY).exclude(image="").exclude(model_version=version)
        .filter(~_reencoded(version, ok_only=False)).order_by("pk")
    )


def encodings_for(photos, version: str) -> list[tuple[ReferencePhoto, bytes]]:
    """(photo, encoding) of `version` for each photo that has one, in the given order: the
    photo's own, else its re-encoding, each opened for the record it is sealed to (a value
    moved to another row raises crypto.RecordMismatch)."""
    photos = list(photos)
    others = {
        row.photo_id: row
        for row in ReferenceEncoding.objects.filter(
            photo__in=[p.pk for p in photos if p.model_version != version], model_version=version, outcome=faces.Outcome.OK
        )
    }
    pairs = []
    for photo in photos:
        if photo.model_version == version and photo.encoding is not None:
            pairs.append((photo, crypto.decrypt_for(photo, photo.encoding)))
        elif photo.pk in others:
            row = others[photo.pk]
            pairs.append((photo, crypto.decrypt_for(row, row.encoding)))
    return pairs


def clients_missing(version: str):
    """Active clients with ready, active reference photos, none of which has an encoding of
    `version`: with that model live, each of their check-ins would become a task."""
    active_ready = ReferencePhoto.objects.filter(client=OuterRef("pk"), status=PhotoStatus.READY, active=True)
    ready_new = ready_for(version).filter(client=OuterRef("pk"), active=True)
    return Client.objects.exclude(case_status__in=INACTIVE_CASES).filter(Exists(active_ready)).exclude(Exists(ready_new))


def readiness_errors(version: str | None = None) -> list[checks.CheckMessage]:
    version = version or faces.MODEL_VERSION
    try:
        missing = clients_missing(version).count()
        photos = to_reencode(version).count()
    except DatabaseError:  # no tables yet (before migrate): nothing is enrolled
        return []
    if not missing:
        return []
    return [checks.Error(
        f"Face model {version}: {missing} active client(s) have reference photos but none encoded by this model "
        f"({photos} photo(s) still to encode); their check-ins would all become tasks.",
        hint=f"Run `{COMMAND}` (resumable) before this model goes live.",
        id="enforcement.E020",
    )]


@checks.register("face_model", deploy=True)
def check_face_model(app_configs=None, databases=None, **kwargs) -> list[checks.CheckMessage]:
    """`manage.py check --deploy` (or `check --tag face_model --deploy`): the current face
    model has ready references for every active client. A deploy check, not an ordinary one,
    so that migrate and reencode_references itself still run before it passes."""
    return readiness_errors()
