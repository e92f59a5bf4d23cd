"""Inbound decoding (Service Bus, Storage Queue bodies, Event Grid events) of generated junk: a message is
decoded, or refused as a `PoisonMessage` naming what is wrong; never another exception, which the host would
only retry and then dead-letter without a reason. Derandomized, so CI runs the same examples every time.

This found Service Bus application properties of other types than strings (AMQP values are typed) breaking
the decoder with a TypeError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aos.inbound import PoisonMessage, from_body, from_event_grid, from_service_bus

FIELDS = ["specversion", "id", "type", "source", "subject", "data", "aostenant", "aostarget", "time",
          "datacontenttype", "data_base64", "dataschema"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70), st.floats(),
                    st.text(max_size=20), st.sampled_from(["1.0", "ping", "s", "acme", "Bad Tenant!",
                                                           "2025-01-01T00:00:00Z", "application/json", "x" * 300]))
JUNK = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), inner, max_size=6)), max_leaves=12)
BODIES = st.one_of(st.binary(max_size=50), JUNK.map(lambda v: json.dumps(v).encode()),
                   st.dictionaries(st.sampled_from(FIELDS), JUNK, max_size=8).map(lambda v: json.dumps(v).encode()))
PROPERTIES = st.dictionaries(
    st.one_of(st.sampled_from([f"cloudEvents:{f}" for f in FIELDS] + ["cloudEvents_type", "aostenant"]),
              st.text(max_size=5)), SCALARS, max_size=6)
CONTENT_TYPES = st.one_of(st.none(), st.sampled_from(["application/json", "application/cloudevents+json",
                                                      "text/plain", "application/cloudevents-batch+json"]))


@settings(max_examples=600, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(BODIES, PROPERTIES, CONTENT_TYPES)
def test_junk_messages_decode_or_are_poison_never_another_error(body: bytes, properties: dict[str, Any],
                                                                content_type: str | None) -> None:
    for decode in (lambda: from_body(body, "acme", "queue message"),
                   lambda: from_service_bus(body, properties, content_type, "acme", "service bus message")):
        try:
            for item in decode():
                assert item.tenant and item.event.id and item.event.type
        except PoisonMessage as e:
            assert e.detail.startswith(("queue message", "service bus message")), e.detail


def test_a_typed_datacontenttype_property_is_poison_with_the_reason() -> None:
    try:
        from_service_bus(b"{}", {"cloudEvents:type": "ping", "cloudEvents:datacontenttype": 2.5}, None, "acme", "m")
    except PoisonMessage as e:
        assert "datacontenttype attribute must be a string, got float" in e.detail
    else:
        raise AssertionError("decoded")


class _GridEvent:
    """The attributes `func.EventGridEvent` / `func.CloudEvent` give `from_event_grid`."""

    def __init__(self, data: Any, **attributes: Any) -> None:
        self.__dict__.update(attributes)
        self._data = data

    def get_json(self) -> Any:
        return self._data


EXTENSIONS = st.one_of(st.none(), st.dictionaries(st.sampled_from(["aostenant", "aostarget", "x", "id"]), SCALARS,
                                                  max_size=3))


@settings(max_examples=300, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.booleans(), SCALARS, SCALARS, SCALARS, SCALARS, SCALARS, JUNK, EXTENSIONS)
def test_junk_event_grid_events_decode_or_are_poison(cloud: bool, id_: Any, source: Any, type_: Any,
                                                     subject: Any, time: Any, data: Any, ext: Any) -> None:
    if cloud:
        event = _GridEvent(data, specversion="1.0", id=id_, source=source, type=type_, subject=subject, time=time,
                           datacontenttype=None, dataschema=None, extension_attrs=ext)
    else:
        event = _GridEvent(data, id=id_, topic=source, event_type=type_, subject=subject, event_time=time,
                           data_version=ext)
    try:
        item = from_event_grid(event, "acme")
    except PoisonMessage as e:
        assert e.detail.startswith("event grid event"), e.detail
    else:
        assert item.tenant and item.event.id and item.event.type
