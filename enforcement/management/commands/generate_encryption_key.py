from django.core.management.base import BaseCommand

from enforcement import crypto


class Command(BaseCommand):
    help = "Print a new key for REPORTIN_ENCRYPTION_KEYS (put it first to make it the current key)."

    def add_arguments(self, parser):
        parser.add_argument("key_id", nargs="?", default=None, help="A name for the key, e.g. 2026a.")

    def handle(self, *args, key_id=None, **options):
        from django.utils import timezone

        self.stdout.write(crypto.new_key_spec(key_id or timezone.now().strftime("k%Y%m%d%H%M")))
