from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from humblytics.lib.encryption import DecryptionError, rotate
from revenue.models import StripeConnection


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored Stripe key with the newest FIELD_ENCRYPTION_KEYS entry. "
        "Afterwards the older keys can be removed from FIELD_ENCRYPTION_KEYS."
    )

    def handle(self, *args, **options):
        table = connection.ops.quote_name(StripeConnection._meta.db_table)
        # Raw column values: rotation re-wraps ciphertext and never needs the plaintext in model code.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT id, secret_key FROM {table}")  # noqa: S608
            rows = cursor.fetchall()
            for pk, token in rows:
                try:
                    rotated = rotate(token)
                except DecryptionError as exc:
                    raise CommandError(f"Stripe connection {pk}: {exc}. Nothing was changed.") from None
                cursor.execute(f"UPDATE {table} SET secret_key = %s WHERE id = %s", [rotated, pk])  # noqa: S608
        self.stdout.write(f"Re-encrypted {len(rows)} Stripe key(s) with the newest key.")
