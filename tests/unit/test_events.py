"""Stored history events turn back into exactly the JSON and dicts they were made from."""

from __future__ import annotations

import json

import msgpack
import pytest

from backends.local.events import EventPage, dump_event, event_json, event_time, load_event

EVENTS = [
    {"eventId": 1, "eventTimestamp": 1795964513.472, "eventType": "WorkflowExecutionStarted",
     "workflowExecutionStartedEventAttributes": {"input": "a|b|{\"c\": [1]}", "taskList": {"name": "t"},
                                                 "tagList": ["é", "\U0001f600", "\ud800"], "parentInitiatedEventId": 0}},
    {"eventId": 12, "eventTimestamp": 1795964514, "eventType": "WorkflowExecutionSignaled",
     "workflowExecutionSignaledEventAttributes": {"signalName": "s", "externalInitiatedEventId": 0}},
    {"eventId": 25000, "eventTimestamp": 0.001, "eventType": "WorkflowExecutionCompleted",
     "workflowExecutionCompletedEventAttributes": {}},
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e["eventType"])
def test_an_event_reads_back_as_it_was_written(event: dict) -> None:
    raw = dump_event(event)
    assert event_json(raw) == json.dumps(event, separators=(",", ":")).encode()
    assert load_event(raw) == event
    assert type(load_event(raw)["eventTimestamp"]) is type(event["eventTimestamp"])
    assert len(raw) < len(event_json(raw))  # the stored form leaves out the repeated names


@pytest.mark.parametrize("event", EVENTS[1:], ids=lambda e: e["eventType"])
def test_events_of_earlier_versions_read_the_same(event: dict) -> None:
    raw = msgpack.packb(event, use_bin_type=True)
    assert load_event(raw) == event
    assert json.loads(event_json(raw)) == event


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e["eventType"])
def test_an_events_time_reads_without_decoding_it(event: dict) -> None:
    assert event_time(dump_event(event)) == event["eventTimestamp"]


@pytest.mark.parametrize("event", EVENTS[1:], ids=lambda e: e["eventType"])
def test_an_events_time_of_earlier_versions_reads_the_same(event: dict) -> None:
    assert event_time(msgpack.packb(event, use_bin_type=True)) == event["eventTimestamp"]


def test_a_page_splices_and_decodes_in_answer_order() -> None:
    raws = [dump_event(e) for e in EVENTS]
    page = EventPage(raws, reverse=True)
    assert len(page) == 3 and page[0] == EVENTS[-1] and page[1:] == EVENTS[-2::-1]
    assert page == list(reversed(EVENTS))
    assert json.loads(b"[" + b",".join(page.json_items()) + b"]") == list(reversed(EVENTS))


@pytest.mark.parametrize("rest", [{}, {"taskToken": "t", "startedEventId": 3, "nextPageToken": "n"}])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_the_wire_answer_splices_the_page_into_valid_json(rest: dict, count: int) -> None:
    from backends.local.wire import encode

    page = EventPage([dump_event(e) for e in EVENTS[:count]])
    body = encode({**rest, "events": page})
    assert json.loads(body) == {**rest, "events": EVENTS[:count]}
    if rest:
        assert body.startswith(b'{"taskToken":"t"')  # what /metrics reads a delivered task's token from
