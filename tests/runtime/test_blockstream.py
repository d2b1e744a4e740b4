"""BlockStream: a reply's blocks rebuilt from its stream events, or none at all."""

from __future__ import annotations

from typing import Any

from threadline.runtime._blockstream import BlockStream


def _events(*blocks: tuple[dict[str, Any], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "m1", "usage": {"output_tokens": 1}}}
    ]
    for i, (start, deltas) in enumerate(blocks):
        out.append({"type": "content_block_start", "index": i, "content_block": start})
        out += [{"type": "content_block_delta", "index": i, "delta": d} for d in deltas]
        out.append({"type": "content_block_stop", "index": i})
    return out


def _feed(events: list[dict[str, Any]]) -> tuple[BlockStream, list[dict[str, Any]]]:
    stream = BlockStream()
    done = [b for b in (stream.feed(e) for e in events) if b is not None]
    return stream, done


def test_blocks_complete_in_order() -> None:
    stream, done = _feed(
        _events(
            (
                {"type": "thinking", "thinking": "", "signature": ""},
                [
                    {"type": "thinking_delta", "thinking": "a"},
                    {"type": "thinking_delta", "thinking": "b"},
                    {"type": "signature_delta", "signature": "SIG"},
                ],
            ),
            ({"type": "text", "text": ""}, [{"type": "text_delta", "text": "hi"}]),
            (
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {}},
                [
                    {"type": "input_json_delta", "partial_json": '{"command": '},
                    {"type": "input_json_delta", "partial_json": '"ls"}'},
                ],
            ),
            ({"type": "tool_use", "id": "t2", "name": "Read", "input": {}}, []),
        )
    )
    assert done == [
        {"type": "thinking", "thinking": "ab", "signature": "SIG"},
        {"type": "text", "text": "hi"},
        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}},
        {"type": "tool_use", "id": "t2", "name": "Read", "input": {}},
    ]
    assert stream.start["id"] == "m1" and stream.ok


def test_stops_at_the_first_thing_it_does_not_know() -> None:
    unknown_block = _events(
        ({"type": "text", "text": ""}, [{"type": "text_delta", "text": "a"}]),
        ({"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}, []),
        ({"type": "text", "text": ""}, [{"type": "text_delta", "text": "b"}]),
    )
    stream, done = _feed(unknown_block)
    assert done == [{"type": "text", "text": "a"}] and not stream.ok
    bad_json = _events(
        (
            {"type": "tool_use", "id": "t", "name": "Bash", "input": {}},
            [{"type": "input_json_delta", "partial_json": '{"command": '}],
        ),
        ({"type": "text", "text": ""}, []),
    )
    stream, done = _feed(bad_json)
    assert done == [] and not stream.ok
    not_an_object = _events(
        (
            {"type": "tool_use", "id": "t", "name": "Bash", "input": {}},
            [{"type": "input_json_delta", "partial_json": "[1]"}],
        )
    )
    assert _feed(not_an_object)[1] == []
    odd_delta = _events(({"type": "text", "text": ""}, [{"type": "thinking_delta", "thinking": "x"}]))
    assert _feed(odd_delta)[1] == []
    out_of_order = _events(({"type": "text", "text": ""}, []))
    out_of_order[1]["index"] = 1
    assert _feed(out_of_order)[1] == []


def test_reset_forgets_a_failed_attempt() -> None:
    stream = BlockStream()
    for event in _events(({"type": "text", "text": ""}, []))[:2]:
        stream.feed(event)
    stream.reset()
    assert [b for b in (stream.feed(e) for e in _events(({"type": "text", "text": "x"}, []))) if b] == [
        {"type": "text", "text": "x"}
    ]
    assert stream.feed("not an event") is None
