"""Encryption at rest for secrets (Stripe keys) with MultiFernet and FIELD_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so a new key can be prepended, the rows re-encrypted
(``manage.py rotate_encryption_keys``) and the old key removed. A value that no configured key opens
raises ``DecryptionError``: we never hand ciphertext back as if it were the secret.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


class DecryptionError(Exception):
    pass


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.FIELD_ENCRYPTION_KEYS])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS: was a key removed too early?"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt with the newest key."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("A stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS") from None


class EncryptedTextField(models.TextField):
    """A text column that holds Fernet ciphertext; Python code sees the plaintext."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
