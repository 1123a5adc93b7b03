"""Encode every stored reference photo with the current face model before it goes live
(README, "Face model upgrades"). Resumable: each chunk is committed, and a re-run (or a run
after a crash) continues with the photos not yet done."""

from django.core.management.base import BaseCommand, CommandError
from django.db.models import F

from biometrics import faces
from enforcement import crypto, face_model, services
from enforcement.progress import Progress


class Command(BaseCommand):
    help = "Encode every ready reference photo with the current face model (resumable; old encodings stay)."
    # This command is what makes the face-model check pass: it must run while the check fails.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--chunk", type=int, default=50, help="Photos per committed chunk (default 50).")
        parser.add_argument("--limit", type=int, default=None, help="Stop after this many photos (a later run continues).")
        parser.add_argument(
            "--shard", default="0/1", metavar="K/N",
            help="Only photos whose id is K modulo N: run N of these at once (0/N ... N-1/N) to use N cores or hosts.",
        )

    def handle(self, *args, chunk=50, limit=None, shard="0/1", **options):
        version = faces.MODEL_VERSION
        try:
            k, n = (int(part) for part in shard.split("/"))
            assert 0 <= k < n
        except (ValueError, AssertionError):
            raise CommandError(f"--shard must be K/N with 0 <= K < N, not {shard!r}") from None
        pending = face_model.to_reencode(version)
        if n > 1:
            pending = pending.annotate(shard=F("pk") % n).filter(shard=k)
        total = pending.count()
        if limit is not None:
            total = min(total, limit)
        self.stdout.write(f"Face model {version}: {total} reference photo(s) to encode.")
        counts: dict[str, int] = {}
        done, last_pk = 0, 0
        with Progress(total, label="encoding", stream=self.stderr) as progress:
            while done < total:
                # Keyed on the id, so a photo that fails to read is not tried again in this run.
                photos = list(pending.filter(pk__gt=last_pk)[: min(chunk, total - done)])
                if not photos:
                    break
                results = []
                for photo in photos:
                    try:
                        analysis = services.reference_photo_encode(photo)
                    except (FileNotFoundError, crypto.DecryptionError):
                        analysis = faces.Analysis(faces.Outcome.UNREADABLE, "the stored photo is missing")
                    results.append((photo.pk, analysis))
                for outcome, n in services.reference_encodings_record(version=version, results=results).items():
                    counts[outcome] = counts.get(outcome, 0) + n
                done += len(photos)
                last_pk = photos[-1].pk
                progress.update(done)
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing to do"
        self.stdout.write(f"Encoded {sum(counts.values())} photo(s) ({detail}).")
        missing = face_model.clients_missing(version).count()
        if missing:
            self.stdout.write(f"{missing} active client(s) still have no reference ready for {version}.")
        else:
            self.stdout.write(f"Every active client has a reference ready for {version}.")
