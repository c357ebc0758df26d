"""Stored password hashes, made one way everywhere: by Flask-AppBuilder's own setting
(``FAB_PASSWORD_HASH_METHOD``, scrypt unless configured), so a user created by FAB's
screens and one created by Atrium's services (seed, restore, anonymisation, client
users) hash alike. Checking reads the method from the stored hash."""

from __future__ import annotations

import secrets

from flask import current_app
from werkzeug.security import generate_password_hash


def hash_password(plain: str) -> str:
    return generate_password_hash(plain, method=current_app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
                                  salt_length=current_app.config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16))


def unusable_password() -> str:
    """The hash of a random password nobody is told: an account nobody can sign in to
    with a password until one is set."""
    return hash_password(secrets.token_urlsafe(32))
