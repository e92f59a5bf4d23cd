"""Secret references in agent specs (`@keyvault:NAME[/VERSION]`): what they are and how a host resolves them.

An agent spec names its secrets instead of holding them: `brain.settings.api_key: "@keyvault:openai-key"`.
The registry, the API (GET /api/agents/{id}), the journal and the audit only ever see the reference; the value
exists only in memory, inside a `Secret` that prints as `Secret('openai-key', ***)`, from the moment a brain
resolves it at use until the step ends.

`SecretResolver` is the port. The host picks one (`aos.runtime.system.secret_resolver`):
- `AOS_KEYVAULT_URI` set (any backend): the Key Vault resolver (`aos.adapters.azure.keyvault`), as the app's
  identity, with a short cache (5 minutes) so a busy agent does not call the vault every step and a rotated
  secret is picked up within the TTL;
- otherwise (embedded, azure-local): `EnvSecretResolver`, which reads `@keyvault:openai-key` from the
  environment variable `AOS_SECRET_OPENAI_KEY`. The same spec then runs unchanged on a laptop and in Azure.
  A reference it cannot resolve is a `NotConfigured` naming both ways out (that variable, or AOS_KEYVAULT_URI).

This module is a leaf (like `aos.ports`): brains use it, adapters implement it, the kernel never needs an
adapter for it.
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any

from aos.errors import NotConfigured

PREFIX = "@keyvault:"
_REF = re.compile(r"^@keyvault:([A-Za-z0-9-]{1,127})(?:/([A-Za-z0-9]{32}))?$")
ENV_PREFIX = "AOS_SECRET_"


class Secret:
    """A secret value that does not print itself."""

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, ***)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self.name, self._value) == (other.name, other._value)

    def __hash__(self) -> int:
        return hash(self.name)

    def __reduce__(self) -> Any:  # pickling would be a way to print it
        raise TypeError("a Secret cannot be pickled")


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def parse_reference(value: str) -> tuple[str, str | None]:
    """(NAME, VERSION or None). `NotConfigured` for a string that starts like a reference but is not one."""
    match = _REF.match(value)
    if not match:
        raise NotConfigured(f"'{value[:140]}' is not a Key Vault reference: use @keyvault:NAME or "
                            "@keyvault:NAME/VERSION (NAME: 1-127 letters, digits and dashes)")
    return match.group(1), match.group(2)


def references(value: Any, path: str = "settings") -> Iterator[tuple[str, str]]:
    """Every (path, reference) in a JSON-like value, e.g. ("settings.headers[0].x", "@keyvault:k")."""
    if is_reference(value):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from references(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from references(v, f"{path}[{i}]")


def scrub(text: str, secrets: Any) -> str:
    """`text` with the value of every `Secret` found in `secrets` (a tree like resolve_tree's) replaced by
    `***`: for error messages built from things a secret may have reached (an endpoint's reply, user code)."""
    for secret in _secrets_in(secrets):
        value = secret.reveal()
        if len(value) >= 4:  # shorter values would garble text without protecting anything
            text = text.replace(value, f"<{secret.name}:***>")
    return text


def has_secrets(value: Any) -> bool:
    """Whether a tree like resolve_tree's holds any `Secret`."""
    return next(_secrets_in(value), None) is not None


def _secrets_in(value: Any) -> Iterator[Secret]:
    if isinstance(value, Secret):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _secrets_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _secrets_in(v)


class SecretResolver(abc.ABC):
    """Resolves secret references at use.

    Contract: `resolve` returns a `Secret` (never a bare string) or raises `NotConfigured` when the secret does
    not exist or may not be read (a fixed condition someone must fix: shown as 422 at registration), or
    `StorageError` when the store is unreachable (transient: registration goes ahead, the step retries).
    No error message and no log line holds a value. Implementations may cache; they must be safe to call
    concurrently.
    """

    #: where values come from, for messages ("Key Vault https://x.vault.azure.net/", "environment")
    source: str = "secret store"

    @abc.abstractmethod
    async def resolve(self, reference: str) -> Secret: ...

    async def resolve_tree(self, value: Any) -> Any:
        """A copy of `value` (dicts, lists, scalars) with every `@keyvault:` string replaced by its `Secret`."""
        if is_reference(value):
            return await self.resolve(value)
        if isinstance(value, dict):
            return {k: await self.resolve_tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [await self.resolve_tree(v) for v in value]
        return value

    async def close(self) -> None:
        return None


class EnvSecretResolver(SecretResolver):
    """Embedded and azure-local: `@keyvault:NAME` reads `AOS_SECRET_<NAME>` (upper case, dashes as
    underscores) from the process environment at each use, so a changed variable applies on restart.

    Limitations: no versions (`@keyvault:NAME/VERSION` reads the same variable), no rotation without a restart,
    and values live in the process environment; fine on a workstation, which is where it is used."""

    source = "environment"

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env

    @staticmethod
    def variable(name: str) -> str:
        return ENV_PREFIX + name.upper().replace("-", "_")

    async def resolve(self, reference: str) -> Secret:
        name, _ = parse_reference(reference)
        var = self.variable(name)
        value = self._env.get(var)
        if not value:
            raise NotConfigured(f"secret '{name}' is not available: set {var} (embedded) or AOS_KEYVAULT_URI "
                                f"to read it from Key Vault", setting=var, secret=name)
        return Secret(name, value)


__all__ = ["EnvSecretResolver", "Secret", "SecretResolver", "is_reference", "parse_reference", "references",
           "scrub"]
