"""The worker's start and request timeouts are settings; a value that cannot work is refused up front."""

from __future__ import annotations

import pytest

from sfuctl.server.config import ServerConfig
from sfuctl.server.config_file import ConfigError, check_config
from sfuctl.server.media.worker import WorkerSettings


@pytest.mark.parametrize("key", ["start_timeout", "request_timeout"])
@pytest.mark.parametrize("value", [0.0, -1.0])
def test_a_timeout_that_is_not_positive_is_refused(key: str, value: float) -> None:
    config = ServerConfig(secret="s" * 32, worker=WorkerSettings(**{key: value}))
    with pytest.raises(ConfigError, match=f"worker.{key}"):
        check_config(config)


def test_the_defaults_pass() -> None:
    settings = WorkerSettings()
    assert settings.start_timeout > 0 and settings.request_timeout > 0
    check_config(ServerConfig(secret="s" * 32))
