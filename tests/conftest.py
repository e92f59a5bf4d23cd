import pytest

pytest_plugins = ["tests.emulators.azurite", "tests.emulators.cosmos"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
