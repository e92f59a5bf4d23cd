"""Rules every embedded adapter shares, so the memory and SQLite adapters cannot drift apart.

Subscription matching, cursors and time encoding live here because the contract suite runs the same tests
against both adapters: one definition means one behaviour.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from aos.errors import ValidationFailed, VersionConflict
from aos.ports import IdempotentResponse

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def type_patterns(event_type: str) -> list[str]:
    """Every subscription pattern that matches `event_type`: itself, each `prefix.*`, and `*`.

    A glob `x.*` matches a type starting with `x.` (so `x.y` and `x.y.z`) but never `x` itself. Turning the
    type into its candidate patterns lets storage answer with an exact-match index lookup instead of testing
    every subscription.
    """
    patterns = [event_type]
    for i, ch in enumerate(event_type):
        if ch == ".":
            patterns.append(event_type[:i] + ".*")
    if event_type != "*":
        patterns.append("*")
    return list(dict.fromkeys(patterns))


def encode_cursor(last_id: str) -> str:
    """An opaque page cursor: the last id returned, so the next page starts strictly after it."""
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.urlsafe_b64decode(padded.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError) as e:
        raise ValidationFailed("invalid page cursor: pass back the cursor a previous page returned") from e


def micros(when: datetime) -> int:
    """Microseconds since the epoch, for indexed ordering. A naive datetime is taken as UTC."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - _EPOCH) // timedelta(microseconds=1)


def json_copy(value: Any, what: str) -> str:
    """Serialize a caller's JSON value, or raise `ValidationFailed` saying what was not JSON."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ValidationFailed(
            f"{what} must be JSON-serializable (dicts, lists, str, numbers, bools, null): {e}"
        ) from e


def check_limit(limit: int, what: str = "limit") -> None:
    if limit < 1:
        raise ValidationFailed(f"{what} must be at least 1, got {limit}")


def version_conflict(subject: str, expected: int, actual: int, **attrs: object) -> VersionConflict:
    """The one VersionConflict message of the embedded adapters: what, where it is, what was expected."""
    return VersionConflict(
        f"{subject} is at version {actual}, not {expected}: re-read it and retry",
        expected=expected,
        actual=actual,
        **attrs,
    )


def response_json(response: IdempotentResponse) -> str:
    body = {"request_hash": response.request_hash, "status": response.status, "body": response.body}
    return json_copy(body, "idempotent response")


def response_from_json(raw: str) -> IdempotentResponse:
    data = json.loads(raw)
    return IdempotentResponse(request_hash=data["request_hash"], status=data["status"], body=data["body"])
