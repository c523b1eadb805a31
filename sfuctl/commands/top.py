"""`sfuctl top`: the live dashboard (tui.app.Dashboard) against one server."""

from __future__ import annotations

import typer

from sfuctl.api import CACERT, DEFAULT_URL, FINGERPRINT, admin_token_source, tls_trust
from sfuctl.common import CliError, fail

NAME = "top"

EPILOG = """[b]Examples[/b]

  sfuctl top

  sfuctl top --url http://sfu.internal:3001 --token "$ADMIN_JWT" --interval 2

Keys: q quit · r refresh · / filter · s sort (or click a header) · enter details · c close room.
"""


def top(
    url: str = typer.Option(DEFAULT_URL, envvar="SFUCTL_URL", help="Server to watch."),
    interval: float = typer.Option(1.0, "--interval", "-i", min=0.2, help="Seconds between polls."),
    token: str = typer.Option(
        None,
        envvar="SFUCTL_TOKEN",
        help="Admin JWT.  \\[default: minted from the local secret]",
        show_default=False,
    ),
    secret_file: str = typer.Option(
        None, envvar="SFUCTL_SECRET_FILE", help="File holding the server's secret.", show_default=False
    ),
    cacert: str | None = CACERT,
    fingerprint: str | None = FINGERPRINT,
) -> None:
    """Live dashboard: workers, rooms, bitrates, peers (and a cluster's nodes); close rooms from it."""
    from sfuctl.tui.app import Dashboard
    from sfuctl.tui.data import ApiSource

    try:
        trust = tls_trust(cacert, fingerprint)
    except CliError as error:
        fail(error)
    Dashboard(ApiSource(url, admin_token_source(token, secret_file), trust=trust), interval=interval).run()


command = top
