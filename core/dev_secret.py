"""Signing secrets as `lvng serve` and `lvng token` find them: `--dev`'s own secret, kept in
a file of its own (mode 0600) beside the SQLite database, and one warning for an HMAC
secret too short to be safe."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from core.config import Settings
from core.errors import ConfigError

log = logging.getLogger("lvng")

DEV_SECRET_FILE = "lvng-dev-secret"
# An HMAC key shorter than its hash's output (32 bytes for HS256) is below what RFC 7518
# (section 3.2) requires: guessable offline from any token.
MIN_HMAC_SECRET_BYTES = 32


def dev_secret_path(settings: Settings) -> Path:
    """Where `--dev` keeps its secret: beside the SQLite file (the working directory for
    other databases)."""
    url = settings.database_url
    if url.startswith("sqlite://"):
        database = url[len("sqlite://") :].split("?", 1)[0]
        if database and database != ":memory:":
            return Path(database).parent / DEV_SECRET_FILE
    return Path(DEV_SECRET_FILE)


def dev_secret(settings: Settings, *, create: bool) -> str:
    """The development secret from its file (mode 0600), made first when `create`."""
    path = dev_secret_path(settings)
    if create:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                os.fchmod(fh.fileno(), 0o600)
                fh.write(secrets.token_urlsafe(32) + "\n")
    try:
        mode = path.stat().st_mode & 0o777
        secret = path.read_text().strip()
    except FileNotFoundError:
        raise ConfigError(
            f"no development secret at {path}: run lvng serve --dev there "
            "first, or set LVNG_JWT_SECRET"
        ) from None
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by others (mode {mode:o}): chmod 600 it")
    if len(secret) < 32:
        raise ConfigError(f"{path} does not hold a usable secret: delete it to make a new one")
    return secret


def with_dev_secret(settings: Settings, *, create: bool) -> Settings:
    """`--dev`: the configured secret or key if any, else the development secret."""
    if settings.jwt_secret is not None or settings.jwt_public_key is not None:
        return settings
    return settings.model_copy(
        update={"jwt_secret": dev_secret(settings, create=create), "jwt_algorithms": ["HS256"]}
    )


def warn_if_weak_secret(settings: Settings) -> None:
    """One warning line when an HS secret is shorter than 32 bytes (outside `--dev`,
    whose own secret is long enough)."""
    secret = settings.jwt_secret
    if (
        secret is not None
        and not settings.dev
        and any(alg.startswith("HS") for alg in settings.jwt_algorithms)
        and len(secret.encode()) < MIN_HMAC_SECRET_BYTES
    ):
        log.warning(
            "LVNG_JWT_SECRET is %d bytes: an HMAC secret needs at least %d random bytes "
            "(RFC 7518), or tokens can be forged by guessing it",
            len(secret.encode()),
            MIN_HMAC_SECRET_BYTES,
        )
