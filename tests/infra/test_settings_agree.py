"""The code and the infrastructure agree on app settings.

Every setting the code reads in Azure is set by `infra/`, and every app setting `infra/` sets is read by
something: AOS code (`aos.config.SETTINGS`), a binding of `function_app.py`, `host.json`, or the Functions
platform itself (the allowlist below). The system this idea came from shipped with a trigger reading a setting
its infrastructure never set; this test makes that a red build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra import bicep
from tests.infra.code_reads import (
    FUNCTION_APP,
    Reads,
    binding_reads,
    code_reads,
    disagreements,
    function_app,
    load_app,
)

# App settings the Functions host / platform reads, not AOS code. Keep each one justified.
PLATFORM_SETTINGS = {
    # Makes the Functions host send its own telemetry (requests, dependencies, logs) to Application
    # Insights with the managed identity; needed because the component has local (key) auth disabled.
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}
# Deliberately absent: FUNCTIONS_EXTENSION_VERSION, FUNCTIONS_WORKER_RUNTIME and the other settings Flex
# Consumption rejects (see test_identity_only.py::test_no_settings_flex_consumption_rejects); runtime and
# version are `functionAppConfig.runtime` there.


def infra_setting_names() -> set[str]:
    settings = bicep.app_settings()
    names = [s.name for s in settings]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"app settings set twice in infra/: {duplicates}"
    return set(names)


def test_infra_sets_exactly_what_the_code_reads() -> None:
    problems = disagreements(code_reads(), infra_setting_names(), PLATFORM_SETTINGS)
    assert not problems, "code and infra/ disagree on app settings:\n  " + "\n  ".join(problems)


def test_every_platform_allowlist_entry_is_set() -> None:
    # A stale allowlist entry would let a typo'd platform setting pass unnoticed.
    missing = PLATFORM_SETTINGS - infra_setting_names()
    assert not missing, (
        f"allowlisted platform settings that infra/ no longer sets (drop them): {sorted(missing)}"
    )


def test_function_app_bindings_are_read_when_present() -> None:
    """With a real function_app.py its bindings join the reads; without one, the same collector is proven
    on a sample app so the check is live before the function app lands."""
    if FUNCTION_APP.exists():
        path, app = FUNCTION_APP, function_app()
    else:
        path = Path(__file__).with_name("sample_function_app.py")
        app = load_app(path, "_tests_infra_sample_function_app")
    reads = binding_reads(app, path.name)
    assert reads.exact or reads.connections or path == FUNCTION_APP
    if path != FUNCTION_APP:
        assert reads.connections.keys() == {"ServiceBusConnection"}
        assert reads.exact.keys() == {"SAMPLE_TOPIC"}


@pytest.mark.parametrize(
    ("reads", "infra", "expected"),
    [
        # A binding expression with no app setting behind it.
        (Reads(exact={"AOS_TOPIC": "trigger"}), set(), ["read but never set by infra/: AOS_TOPIC"]),
        # An identity-based connection is satisfied by its __fullyQualifiedNamespace form...
        (Reads(connections={"Sb": "trigger"}), {"Sb__fullyQualifiedNamespace"}, []),
        # ...and missing entirely it is named.
        (Reads(connections={"Sb": "trigger"}), set(), ["connection read but never set by infra/: Sb"]),
        # A setting nobody reads.
        (Reads(), {"AOS_UNUSED"}, ["set by infra/ but never read by the code: AOS_UNUSED"]),
        # A local-only setting provisioned in Azure.
        (Reads(), {"AOS_PORT"}, ["scope 'local'"]),
    ],
)
def test_disagreements_name_each_offender(reads: Reads, infra: set[str], expected: list[str]) -> None:
    problems = disagreements(reads, infra, set())
    assert len(problems) == len(expected)
    for problem, fragment in zip(problems, expected):
        assert fragment in problem
