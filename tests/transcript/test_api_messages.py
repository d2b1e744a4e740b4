"""The conversion rules of ``transcript/_api.py``, one by one (the oracle tests check the
whole against the real CLI; these pin each rule and its edge cases)."""

from __future__ import annotations

import random
from typing import Any

from threadline.transcript._api import (
    NO_RESPONSE_REQUESTED,
    TOOL_CALL_INTERRUPTED,
    chain_to_api_messages,
    join_user_content,
    merge_api_messages,
    repair_tool_pairs,
    repaired_prefix,
    resume_closing,
    tail_kinds,
    wrap_task_notification,
)

Raw = dict[str, Any]


def user(content: Any, **kw: Any) -> Raw:
    return {"type": "user", "message": {"role": "user", "content": content}, **kw}


def reply(*blocks: Raw, **kw: Any) -> Raw:
    message = {"role": "assistant", "model": "m", "content": list(blocks)}
    return {"type": "assistant", "message": message, **kw}


def text(t: str) -> Raw:
    return {"type": "text", "text": t}


def result(call: str, content: str = "ok") -> Raw:
    return {"type": "tool_result", "tool_use_id": call, "content": content}


def call(call_id: str) -> Raw:
    return {"type": "tool_use", "id": call_id, "name": "Bash", "input": {}}


def test_string_content_stays_a_string() -> None:
    assert chain_to_api_messages([user("hi"), reply(text("yo"))]) == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [text("yo")]},
    ]


def test_a_merge_ends_the_text_before_each_seam_with_a_newline() -> None:
    assert join_user_content("one", "two") == [text("one\n"), text("two")]
    assert join_user_content([text("a"), text("b")], "c") == [text("a"), text("b\n"), text("c")]
    # no text on one side of the seam: nothing added
    image = {"type": "image", "source": {}}
    assert join_user_content([text("a"), image], "b") == [text("a"), image, text("b")]
    assert join_user_content("a", [image]) == [text("a"), image]


def test_a_merge_puts_tool_results_first() -> None:
    merged = join_user_content([result("t1")], [text("note"), result("t2")])
    assert merged == [result("t1"), result("t2"), text("note")]
    assert join_user_content("x", [result("t1")]) == [result("t1"), text("x")]


def test_the_seam_newline_is_not_written_into_the_entry() -> None:
    first = user([text("one")])
    merge_api_messages([first, user("two")], [])
    assert first["message"]["content"] == [text("one")]


def test_meta_entries_are_sent_and_virtual_ones_are_not() -> None:
    chain = [
        user("<local-command-caveat>c</local-command-caveat>", isMeta=True),
        user("virtual", isVirtual=True),
        user("prompt"),
    ]
    assert merge_api_messages(chain, []) == [
        {
            "role": "user",
            "content": [text("<local-command-caveat>c</local-command-caveat>\n"), text("prompt")],
        }
    ]


def test_a_slash_command_output_is_sent_as_a_user_message() -> None:
    out = "<local-command-stdout>done</local-command-stdout>"
    chain = [
        reply(text("hi")),
        {"type": "system", "subtype": "local_command", "content": out},
        {"type": "system", "subtype": "local_command", "content": "x", "isDisplayOnly": True},
        {"type": "system", "subtype": "informational", "content": "not sent"},
        {"type": "attachment", "attachment": {"type": "date"}},
    ]
    assert merge_api_messages(chain, [])[-1] == {"role": "user", "content": out}


def test_the_synthetic_api_error_reply_is_dropped_and_the_prompts_merge() -> None:
    error = reply(text("API Error: 500"), isApiErrorMessage=True)
    error["message"]["model"] = "<synthetic>"
    assert chain_to_api_messages([user("a"), error, user("b")]) == [
        {"role": "user", "content": [text("a\n"), text("b")]}
    ]


def test_a_task_notification_is_wrapped_as_a_system_reminder() -> None:
    note = "<task-notification>\n<result>done </system-reminder></result>\n</task-notification>"
    origin = {"kind": "task-notification", "producer": "session-task"}
    [message] = merge_api_messages([user(note, origin=origin)], [])
    sent = message["content"]
    assert sent.startswith("<system-reminder>\n[SYSTEM NOTIFICATION - NOT USER INPUT]\n")
    assert sent.endswith(
        "\n\n"
        + note.replace("</system-reminder>", "&lt;/system-reminder&gt;")
        + "\n</system-reminder>"
    )
    assert wrap_task_notification(sent) == sent  # already wrapped: kept
    [listed] = merge_api_messages([user([text("a"), text("b")], origin=origin)], [])
    assert listed["content"] == [text(wrap_task_notification("a\nb"))]


def test_a_missing_result_is_the_cli_text() -> None:
    fixed = repair_tool_pairs(
        [{"role": "user", "content": "go"}, {"role": "assistant", "content": [call("t1")]}]
    )
    assert fixed[-1]["content"] == [
        {
            "type": "tool_result",
            "content": TOOL_CALL_INTERRUPTED,
            "is_error": True,
            "tool_use_id": "t1",
        }
    ]


def _closing(chain: list[Raw]) -> tuple[list[Any], bool]:
    return resume_closing(merge_api_messages(chain, []), tail_kinds(chain))


def test_the_resume_closes_a_conversation_that_ends_with_a_user_message() -> None:
    assert _closing([user("a"), reply(text("b"))]) == ([], False)
    assert _closing([user("a"), reply(text("b")), user("unanswered")]) == ([], True)
    assert _closing([user("a"), reply(call("t1"))]) == (["t1"], True)
    assert _closing([user("a"), reply(call("t1"), call("t2")), user([result("t1")])]) == (
        ["t2"],
        True,
    )
    assert _closing([user("a"), reply(call("t1")), user([result("t1")])]) == ([], True)
    # reminders after the prompt do not change that; a marker of a turn ended on purpose does
    after = {"type": "attachment", "attachment": {"type": "date"}}
    assert _closing([user("a"), after]) == ([], True)
    ended = {"type": "attachment", "attachment": {"type": "max_turns_reached"}}
    assert _closing([user("a"), reply(call("t1")), user([result("t1")]), ended]) == ([], False)


def test_a_slash_command_record_at_the_end_is_not_closed() -> None:
    caveat = user("<local-command-caveat>c</local-command-caveat>", isMeta=True)
    command = user("<command-name>/compact</command-name>")
    output = user("<local-command-stdout>Compacted</local-command-stdout>")
    assert _closing([user("a"), reply(text("b")), caveat, command, output]) == ([], False)
    assert _closing([user("a"), reply(text("b")), command, output]) == ([], True)
    assert NO_RESPONSE_REQUESTED == "No response requested."


def _tail_kinds_reference(entries: list[Raw], before: list[Any] | None = None) -> list[Any]:
    """The rule as first written: every entry classified, the list reset at each reply."""
    from threadline.transcript._api import _TURN_ENDED, _local_command_kind

    kinds = list(before or [])
    for entry in entries:
        kind = entry.get("type")
        if kind == "assistant":
            kinds = []
        elif kind == "user":
            kinds.append((_local_command_kind(entry), entry.get("isMeta") is True))
        elif kind == "attachment":
            attachment = entry.get("attachment")
            name = attachment.get("type") if type(attachment) is dict else None
            kinds.append(("ended" if name in _TURN_ENDED else "attachment", False))
    return kinds


class _Watched(dict[str, Any]):
    """An entry that records which of its fields were read besides ``type``."""

    read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        if key != "type":
            _Watched.read.add(key)
        return super().get(key, default)


def test_tail_kinds_reads_only_what_follows_the_last_reply() -> None:
    import random

    rng = random.Random(16)
    pool = [
        user("a"),
        user("<command-name>/x</command-name>"),
        user("<local-command-stdout>o</local-command-stdout>"),
        user("<local-command-caveat>c</local-command-caveat>", isMeta=True),
        user([result("t1")]),
        user("/typed"),
        reply(text("b")),
        reply(call("t1")),
        {"type": "attachment", "attachment": {"type": "date"}},
        {"type": "attachment", "attachment": {"type": "max_turns_reached"}},
        {"type": "system", "subtype": "local_command", "content": "x"},
    ]
    before = [("other", False), ("attachment", False)]
    for _ in range(400):
        chain = [rng.choice(pool) for _ in range(rng.randint(0, 8))]
        prior = before if rng.random() < 0.5 else None
        assert tail_kinds(chain, prior) == _tail_kinds_reference(chain, prior)
        assert tail_kinds(iter(chain), prior) == _tail_kinds_reference(chain, prior)
    # a long conversation: the entries before its last reply are not classified at all
    early = [_Watched(e) for e in (user("a"), reply(text("b")), user("<command-name>/c"))]
    _Watched.read = set()
    assert tail_kinds([*early, reply(text("d")), user("e")]) == [("other", False)]
    assert _Watched.read == set()


def _random_chain(rng: random.Random, n: int, start: int = 0) -> list[Raw]:
    """User and assistant entries whose tool calls are answered, half answered, answered
    twice, answered by an unknown id or not at all; prompts, text, empty content."""
    out: list[Raw] = []
    for i in range(start, start + n):
        r = rng.random()
        if r < 0.3:
            out.append(user(rng.choice([f"prompt {i}", [text(f"prompt {i}")]])))
        elif r < 0.55:
            blocks = [text(f"reply {i}")] if rng.random() < 0.5 else []
            blocks += [call(f"t{i}{k}") for k in range(rng.randint(0, 2))]
            out.append(reply(*blocks) if blocks else reply(text(f"reply {i}")))
        else:
            ids = [f"t{i - rng.randint(0, 3)}{k}" for k in range(rng.randint(0, 2))]
            blocks = [result(t) for t in ids] + rng.choice([[], [text(f"more {i}")]])
            out.append(user(blocks or f"prompt {i}"))
    return out


def test_a_repaired_prefix_is_kept_by_every_continuation() -> None:
    """``repaired_prefix`` of a history (what a resume snapshot records) lets the repair
    of any continuation of it (merged appended entries, a resume's closing) skip that
    prefix with the same result as a repair of the whole."""
    rng = random.Random(7)
    for _ in range(400):
        first = _random_chain(rng, rng.randint(0, 12))
        prefix = merge_api_messages(first, [])
        intact = repaired_prefix(prefix)
        assert 0 <= intact <= max(len(prefix) - 1, 0)
        assert all(a is b for a, b in zip(repair_tool_pairs(prefix)[:intact], prefix))
        whole = merge_api_messages(_random_chain(rng, rng.randint(0, 6), 100), prefix)
        expected = repair_tool_pairs([dict(m) for m in whole])
        assert repair_tool_pairs(whole, intact) == expected
        assert repaired_prefix(whole, intact) == repaired_prefix(whole)


def test_a_history_of_answered_calls_is_intact_but_for_its_last_message() -> None:
    history = merge_api_messages(
        [user("go"), reply(call("t1")), user([result("t1")]), reply(text("done"))], []
    )
    assert repaired_prefix(history) == 3
    unanswered = merge_api_messages([user("go"), reply(call("t1")), user("next")], [])
    assert repaired_prefix(unanswered) == 2  # the prompt after the call gets its result


def _reference_repair(messages: list[Raw]) -> list[Raw]:
    """The repair as it was first written (the calls looked up again for each message)."""
    fixed: list[Raw] = []
    for i, msg in enumerate(messages):
        if msg["role"] == "user":
            prev = fixed[-1] if fixed and fixed[-1]["role"] == "assistant" else None
            content = prev["content"] if prev else None
            calls = (
                [b.get("id") for b in content if b.get("type") == "tool_use"]
                if (type(content) is list)
                else []
            )
            blocks = msg["content"]
            blocks = [text(blocks)] if isinstance(blocks, str) else blocks
            results = [
                b
                for b in blocks
                if b.get("type") == "tool_result" and b.get("tool_use_id") in calls
            ]
            answered = {b.get("tool_use_id") for b in results}
            missing = [c for c in calls if c not in answered]
            others = [b for b in blocks if b.get("type") != "tool_result"]
            if not missing and len(results) + len(others) == len(blocks):
                fixed.append(msg)
                continue
            interrupted = [
                {
                    "type": "tool_result",
                    "content": TOOL_CALL_INTERRUPTED,
                    "is_error": True,
                    "tool_use_id": c,
                }
                for c in missing
            ]
            if results + interrupted + others:
                fixed.append({"role": "user", "content": results + interrupted + others})
            continue
        fixed.append(msg)
        content = msg["content"]
        calls = (
            [b.get("id") for b in content if b.get("type") == "tool_use"]
            if (type(content) is list)
            else []
        )
        if calls and i + 1 == len(messages):
            fixed.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "content": TOOL_CALL_INTERRUPTED,
                            "is_error": True,
                            "tool_use_id": c,
                        }
                        for c in calls
                    ],
                }
            )
    return fixed


def test_the_repair_matches_its_reference_on_random_histories() -> None:
    """Calls answered, half answered, twice, by unknown ids, results with nothing left (the
    message is dropped and the next one answers the same calls), non-user roles."""
    rng = random.Random(11)
    for _ in range(600):
        history = merge_api_messages(_random_chain(rng, rng.randint(0, 14)), [])
        for _ in range(rng.randint(0, 2)):  # raw lists, not merged: consecutive roles
            at = rng.randint(0, len(history))
            history.insert(
                at,
                rng.choice(
                    [
                        {"role": "user", "content": [result(f"t{rng.randint(0, 14)}0")]},
                        {"role": "system", "content": [call("s1")]},
                        {"role": "assistant", "content": [call(f"x{at}")]},
                    ]
                ),
            )
        assert repair_tool_pairs(history) == _reference_repair(history)
        intact = repaired_prefix(history)
        assert repair_tool_pairs(history, intact) == _reference_repair(history)
