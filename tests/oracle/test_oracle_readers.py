"""threadline's session readers and mutators against the official ``claude_agent_sdk``,
on real transcripts written by the bundled CLI (see ``corpus.py``).

Comparisons use ``dataclasses.asdict`` (ours vs official). The config dir is chosen through
``CLAUDE_CONFIG_DIR`` (set by the ``corpus_env`` / ``corpus_copy`` fixtures), which both
implementations read at call time.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import claude_agent_sdk as official
import pytest

import threadline

from .corpus import SCENARIOS, CliCorpus

pytestmark = pytest.mark.oracle


def ours(name: str) -> Any:
    fn = getattr(threadline, name, None)
    if fn is None:
        pytest.fail(f"threadline.{name} is not implemented yet")
    return fn


def as_dicts(items: Any) -> Any:
    if items is None:
        return None
    if isinstance(items, list):
        return [dataclasses.asdict(x) for x in items]
    return dataclasses.asdict(items)


def same(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``name`` in both packages; assert equal results; return the official one."""
    expected = getattr(official, name)(*args, **kwargs)
    got = ours(name)(*args, **kwargs)
    if isinstance(expected, list) and expected and isinstance(expected[0], str):
        assert got == expected, (name, args, kwargs)
    else:
        assert as_dicts(got) == as_dicts(expected), (name, args, kwargs)
    return expected


def ids_of(corpus: CliCorpus, scenario: str) -> list[str]:
    return corpus.sessions[scenario]


def entries(config_dir: Path, session_id: str) -> list[dict[str, Any]]:
    [path] = list((config_dir / "projects").glob(f"*/{session_id}.jsonl"))
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def request_texts(body: dict[str, Any]) -> str:
    return json.dumps(body.get("messages", []), ensure_ascii=False)


# -- the corpus itself ---------------------------------------------------------------------


def test_corpus_has_every_scenario(corpus_env: CliCorpus) -> None:
    assert set(corpus_env.sessions) == set(SCENARIOS)
    assert corpus_env.build_seconds < 90
    for sid in corpus_env.all_session_ids():
        assert official.get_session_info(sid) is not None, sid
    long_key = official.project_key_for_directory(str(corpus_env.cwds["long"]))
    assert len(long_key) > 200


# -- listing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"limit": 3},
        {"limit": 3, "offset": 2},
        {"offset": 5},
        {"limit": 0},
        {"limit": 100, "offset": 100},
        {"include_worktrees": False},
    ],
)
def test_list_sessions_all(corpus_env: CliCorpus, kwargs: dict[str, Any]) -> None:
    result = same("list_sessions", **kwargs)
    if not kwargs:
        assert len(result) == len(corpus_env.all_session_ids())


@pytest.mark.parametrize("cwd_name", ["main", "other", "long"])
@pytest.mark.parametrize("kwargs", [{}, {"limit": 2}, {"limit": 1, "offset": 1}])
def test_list_sessions_per_cwd(
    corpus_env: CliCorpus, cwd_name: str, kwargs: dict[str, Any]
) -> None:
    directory = str(corpus_env.cwds[cwd_name])
    result = same("list_sessions", directory, **kwargs)
    assert result
    same("list_sessions", directory=directory, include_worktrees=False, **kwargs)


def test_list_sessions_unknown_directory(corpus_env: CliCorpus, tmp_path: Path) -> None:
    assert same("list_sessions", str(tmp_path / "nowhere")) == []


# -- one session ---------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_get_session_info(corpus_env: CliCorpus, scenario: str) -> None:
    for sid in ids_of(corpus_env, scenario):
        info = same("get_session_info", sid)
        assert info is not None
        same("get_session_info", sid, directory=str(corpus_env.session_cwd[sid]))
        same("get_session_info", sid, str(corpus_env.session_cwd[sid]))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_get_session_messages(corpus_env: CliCorpus, scenario: str) -> None:
    for sid in ids_of(corpus_env, scenario):
        msgs = same("get_session_messages", sid)
        assert msgs
        directory = str(corpus_env.session_cwd[sid])
        same("get_session_messages", sid, directory=directory)
        for limit, offset in [(1, 0), (2, 1), (None, 1), (None, 3), (100, 0), (0, 2), (3, 100)]:
            same("get_session_messages", sid, limit=limit, offset=offset)
            same("get_session_messages", sid, directory, limit, offset)


def test_unknown_and_invalid_ids(corpus_env: CliCorpus) -> None:
    for bad in ["not-a-uuid", "00000000-0000-0000-0000-000000000000", ""]:
        assert same("get_session_info", bad) is None
        assert same("get_session_messages", bad) == []
        assert same("list_subagents", bad) == []
    wrong_dir = str(corpus_env.cwds["other"])
    same("get_session_info", corpus_env.sessions["single"][0], directory=wrong_dir)
    same("get_session_messages", corpus_env.sessions["single"][0], directory=wrong_dir)


def test_specific_shapes(corpus_env: CliCorpus) -> None:
    """Facts about the corpus the readers must reproduce (checked on the official output)."""
    branch = official.get_session_messages(corpus_env.id("branch"))
    texts = [json.dumps(m.message) for m in branch]
    assert any("branch turn alternative" in t for t in texts)
    assert not any("branch turn two" in t for t in texts)

    parallel = official.get_session_messages(corpus_env.id("parallel_tools"))
    results = [
        m
        for m in parallel
        if m.type == "user"
        and isinstance(m.message.get("content"), list)
        and any(b.get("type") == "tool_result" for b in m.message["content"])
    ]
    assert len(results) == 2

    compact = official.get_session_messages(corpus_env.id("compact"))
    assert "continued from a previous conversation" in json.dumps(compact[0].message)

    info = official.get_session_info(corpus_env.id("named"))
    assert info is not None and info.custom_title == "Named By Flag"
    info = official.get_session_info(corpus_env.id("sdk_rename_tag"))
    assert info is not None and info.tag == "oracle-tag"


# -- subagents -----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_subagents(corpus_env: CliCorpus, scenario: str) -> None:
    for sid in ids_of(corpus_env, scenario):
        agents = same("list_subagents", sid)
        same("list_subagents", sid, directory=str(corpus_env.session_cwd[sid]))
        if scenario in ("subagent_fg", "subagent_bg"):
            assert len(agents) == 1
        for agent in agents:
            msgs = same("get_subagent_messages", sid, agent)
            assert msgs
            assert all(m.parent_tool_use_id for m in msgs)
            same("get_subagent_messages", sid, agent, str(corpus_env.session_cwd[sid]))
            for limit, offset in [(1, 0), (1, 1), (None, 1), (5, 5)]:
                same("get_subagent_messages", sid, agent, limit=limit, offset=offset)
        assert same("get_subagent_messages", sid, "nope") == []
        assert same("get_subagent_messages", sid, "") == []


# -- fork ----------------------------------------------------------------------------------


def _normalized(msgs: list[Any]) -> list[tuple[str, Any]]:
    return [(m.type, m.message) for m in msgs]


@pytest.mark.parametrize(
    "scenario", ["resume", "parallel_tools", "compact", "branch", "api_error", "subagent_fg"]
)
def test_fork_full_matches_official_fork(corpus_copy: CliCorpus, scenario: str) -> None:
    sid = corpus_copy.id(scenario)
    source_msgs = official.get_session_messages(sid)
    ours_fork = ours("fork_session")(sid)
    theirs_fork = official.fork_session(sid)
    assert ours_fork.session_id != sid

    got = official.get_session_messages(ours_fork.session_id)
    expected = official.get_session_messages(theirs_fork.session_id)
    assert _normalized(got) == _normalized(expected)
    assert _normalized(got) == _normalized(source_msgs)
    assert {m.session_id for m in got} == {ours_fork.session_id}
    assert not {m.uuid for m in got} & {m.uuid for m in source_msgs}

    written = [e for e in entries(corpus_copy.config_dir, ours_fork.session_id) if "uuid" in e]
    chain = [e for e in written if e.get("type") in ("user", "assistant", "system", "attachment")]
    source_uuids = {e.get("uuid") for e in entries(corpus_copy.config_dir, sid)}
    for entry in chain:
        assert entry["forkedFrom"]["sessionId"] == sid
        assert entry["forkedFrom"]["messageUuid"] in source_uuids
        assert entry["uuid"] not in source_uuids

    ours_info = official.get_session_info(ours_fork.session_id)
    theirs_info = official.get_session_info(theirs_fork.session_id)
    assert ours_info is not None and theirs_info is not None
    assert ours_info.custom_title == theirs_info.custom_title
    assert ours_info.first_prompt == theirs_info.first_prompt
    # and our readers agree with the official ones on the fork
    same("get_session_messages", ours_fork.session_id)
    same("get_session_info", ours_fork.session_id)


def test_fork_up_to_message_and_cli_resumes_it(corpus_copy: CliCorpus) -> None:
    sid = corpus_copy.id("resume")
    cwd = corpus_copy.session_cwd[sid]
    source_msgs = official.get_session_messages(sid)
    assert [m.type for m in source_msgs] == ["user", "assistant", "user", "assistant"]
    cut = source_msgs[1].uuid

    fork = ours("fork_session")(sid, directory=str(cwd), up_to_message_id=cut, title="Cut fork")
    got = official.get_session_messages(fork.session_id, directory=str(cwd))
    assert _normalized(got) == _normalized(source_msgs[:2])
    assert not {m.uuid for m in got} & {m.uuid for m in source_msgs}
    info = official.get_session_info(fork.session_id)
    assert info is not None and info.custom_title == "Cut fork"

    # the real CLI resumes our fork; the request carries the forked history only
    server = corpus_copy.server
    assert server is not None
    server.script([])
    server.clear_requests()
    run = corpus_copy.run(
        ["-p", "prompt after the fork", "--resume", fork.session_id],
        cwd=cwd,
        config_dir=corpus_copy.config_dir,
    ).check()
    assert run.session_id == fork.session_id
    last = server.message_requests()[-1]
    text = request_texts(last)
    assert "resume turn one" in text
    assert "echo: resume turn one" in text
    assert "prompt after the fork" in text
    assert "resume turn two" not in text
    after = official.get_session_messages(fork.session_id)
    assert len(after) == 4
    same("get_session_messages", fork.session_id)


def test_full_fork_resumed_by_cli(corpus_copy: CliCorpus) -> None:
    sid = corpus_copy.id("parallel_tools")
    cwd = corpus_copy.session_cwd[sid]
    fork = ours("fork_session")(sid)
    server = corpus_copy.server
    assert server is not None
    server.script([])
    server.clear_requests()
    corpus_copy.run(
        ["-p", "continue the forked tools", "--resume", fork.session_id], cwd=cwd
    ).check()
    text = request_texts(server.message_requests()[-1])
    for needle in ("run two echos", "echo alpha", "echo beta", "both echoed", "forked tools"):
        assert needle in text, needle


# -- rename / tag --------------------------------------------------------------------------


def test_rename_and_tag_show_in_official_listing(corpus_copy: CliCorpus) -> None:
    sid = corpus_copy.id("single")
    cwd = str(corpus_copy.session_cwd[sid])
    ours("rename_session")(sid, "  Our Title  ", directory=cwd)
    ours("tag_session")(sid, "our-tag")
    info = official.get_session_info(sid)
    assert info is not None
    assert info.custom_title == "Our Title"
    assert info.summary == "Our Title"
    assert info.tag == "our-tag"
    listed = {s.session_id: s for s in official.list_sessions(cwd)}
    assert listed[sid].custom_title == "Our Title"
    assert listed[sid].tag == "our-tag"
    same("list_sessions", cwd)
    same("get_session_info", sid)

    # the CLI-named session: our rename wins over the --name title
    named = corpus_copy.id("named")
    ours("rename_session")(named, "Renamed Again")
    info = official.get_session_info(named)
    assert info is not None and info.custom_title == "Renamed Again"

    # clearing the tag
    ours("tag_session")(sid, None, directory=cwd)
    info = official.get_session_info(sid)
    assert info is not None and info.tag is None
    same("list_sessions")


def test_mutators_reject_like_official(corpus_copy: CliCorpus) -> None:
    sid = corpus_copy.id("single")
    for fn_name, args in [
        ("rename_session", ("not-a-uuid", "t")),
        ("rename_session", (sid, "   ")),
        ("tag_session", ("not-a-uuid", "t")),
        ("fork_session", ("not-a-uuid",)),
    ]:
        with pytest.raises(ValueError):
            getattr(official, fn_name)(*args)
        with pytest.raises(ValueError):
            ours(fn_name)(*args)
    missing = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(FileNotFoundError):
        official.rename_session(missing, "t")
    # threadline's SessionNotFoundError is a FileNotFoundError, as the official raises
    with pytest.raises(FileNotFoundError):
        ours("rename_session")(missing, "t")
    with pytest.raises(FileNotFoundError):
        ours("fork_session")(missing)
