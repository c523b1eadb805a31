"""The webhook signing secret: --webhook-secret, SFUCTL_WEBHOOK_SECRET, or a file generated on
the first run (0600), like the JWT secret but separate, so receivers never hold the JWT secret."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from sfuctl.server.auth import Secret, checked_secret, create_secret_file, read_secret_file

ENV = "SFUCTL_WEBHOOK_SECRET"
FILE_ENV = "SFUCTL_WEBHOOK_SECRET_FILE"
WHERE = "--webhook-secret-file (SFUCTL_WEBHOOK_SECRET_FILE)"


def default_webhook_secret_file() -> Path:
    return Path(platformdirs.user_config_dir("sfuctl")) / "webhook-secret"


def resolve_webhook_secret(
    flag: str | None = None, secret_file: str | None = None, create: bool = False
) -> Secret:
    if flag:
        return Secret(checked_secret(flag, "--webhook-secret"), "flag")
    env = os.environ.get(ENV)
    if env:
        return Secret(checked_secret(env, ENV), f"env {ENV}")
    path = Path(secret_file or os.environ.get(FILE_ENV) or default_webhook_secret_file())
    if path.exists() or not create:
        return Secret(checked_secret(read_secret_file(path, WHERE), str(path)), str(path))
    hint = f"point {WHERE} at a writable place, or pass {ENV}"
    return Secret(create_secret_file(path, hint), str(path))
