"""Fixtures of the end-to-end HTTP tests: one real server per test module and backend, and a
fresh client per test. Tests stay independent by creating the accounts they use."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import BACKENDS
from tests.e2e.api import Api
from tests.e2e.server import ServerProcess, database, running_server


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """`creditbook serve` on a free loopback port, for a freshly migrated database."""
    workdir = tmp_path_factory.mktemp(f"server-{request.param}")
    with database(request.param, request, workdir) as url, running_server(url, workdir) as served:
        yield served


@pytest.fixture
def api(server: ServerProcess) -> Iterator[Api]:
    assert server.alive(), f"the server died:\n{server.log_tail()}"
    with httpx.Client(base_url=server.base_url, timeout=30.0, follow_redirects=False) as client:
        yield Api(client, server.admin_token)
    assert server.alive(), f"the server died during the test:\n{server.log_tail()}"
