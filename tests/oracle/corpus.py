"""Build a corpus of REAL Claude Code transcripts with the bundled CLI, offline.

Every scenario runs ``claude -p`` against :class:`FakeAnthropicServer`; all sessions share one
``CLAUDE_CONFIG_DIR``. The builder records which session ids each scenario produced, the cwd
of every session and the prompts of every session (in order).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from threadline.testing._claude_cli import CliRun, run_claude
from threadline.testing._fake_anthropic import FakeAnthropicServer

SCENARIOS = (
    "single",
    "thinking",
    "resume",
    "continue",
    "cli_fork",
    "branch",
    "parallel_tools",
    "subagent_fg",
    "subagent_bg",
    "compact",
    "api_error",
    "named",
    "sdk_rename_tag",
    "long_cwd",
)


@dataclass
class CliCorpus:
    root: Path
    config_dir: Path
    home: Path
    tmpdir: Path
    cwds: dict[str, Path]
    sessions: dict[str, list[str]]
    session_cwd: dict[str, Path] = field(default_factory=dict)
    prompts: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    server: FakeAnthropicServer | None = None
    build_seconds: float = 0.0

    def ids(self, scenario: str) -> list[str]:
        return self.sessions[scenario]

    def id(self, scenario: str) -> str:
        return self.sessions[scenario][0]

    def all_session_ids(self) -> list[str]:
        seen: dict[str, None] = {}
        for ids in self.sessions.values():
            for sid in ids:
                seen[sid] = None
        return list(seen)

    def run(self, args: list[str], *, cwd: Path, config_dir: Path | None = None) -> CliRun:
        assert self.server is not None
        return run_claude(
            args,
            server=self.server,
            config_dir=config_dir or self.config_dir,
            cwd=cwd,
            home=self.home,
            tmpdir=self.tmpdir,
        )

    def session_files(self) -> list[Path]:
        return sorted((self.config_dir / "projects").glob("*/*.jsonl"))


@contextmanager
def config_env(config_dir: Path) -> Iterator[None]:
    """Temporarily point ``CLAUDE_CONFIG_DIR`` at ``config_dir`` (for the official functions)."""
    old = os.environ.get("CLAUDE_CONFIG_DIR")
    os.environ["CLAUDE_CONFIG_DIR"] = str(config_dir)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("CLAUDE_CONFIG_DIR", None)
        else:
            os.environ["CLAUDE_CONFIG_DIR"] = old


def _long_cwd(root: Path) -> Path:
    path = root / "long"
    i = 0
    while len(str(path)) < 230:
        path = path / f"nested_segment.{i:02d}-abcdefghij"
        i += 1
    return path


def _assistant_uuids(run: CliRun) -> list[str]:
    return [
        m["uuid"]
        for m in run.messages
        if m.get("type") == "assistant" and isinstance(m.get("uuid"), str)
    ]


class _Builder:
    def __init__(self, corpus: CliCorpus, server: FakeAnthropicServer) -> None:
        self.c = corpus
        self.server = server

    def run(
        self,
        prompt: str,
        *extra: str,
        cwd: str = "main",
        script: list[dict[str, Any]] | None = None,
        expect_ok: bool = True,
    ) -> CliRun:
        self.server.script(script or [])
        run = run_claude(
            ["-p", prompt, *extra],
            server=self.server,
            config_dir=self.c.config_dir,
            cwd=self.c.cwds[cwd],
            home=self.c.home,
            tmpdir=self.c.tmpdir,
        )
        if expect_ok:
            run.check()
        assert run.session_id, run
        self.c.session_cwd.setdefault(run.session_id, self.c.cwds[cwd])
        self.c.prompts.setdefault(run.session_id, []).append(prompt)
        return run

    def add(self, scenario: str, *session_ids: str | None) -> None:
        ids = self.c.sessions.setdefault(scenario, [])
        for sid in session_ids:
            assert sid
            ids.append(sid)


def build_corpus(root: Path) -> CliCorpus:
    """Run every scenario; returns the corpus (server stopped; the caller may restart one)."""
    started = time.monotonic()
    cwds = {"main": root / "proj-main", "other": root / "proj_other.dir", "long": _long_cwd(root)}
    for path in cwds.values():
        path.mkdir(parents=True, exist_ok=True)
    corpus = CliCorpus(
        root=root,
        config_dir=root / "config",
        home=root / "home",
        tmpdir=root / "tmp",
        cwds=cwds,
        sessions={},
    )
    for path in (corpus.config_dir, corpus.home, corpus.tmpdir):
        path.mkdir(parents=True, exist_ok=True)
    server = FakeAnthropicServer().start()
    corpus.server = server
    b = _Builder(corpus, server)

    # single turn
    r = b.run("hello single turn")
    b.add("single", r.session_id)

    # thinking + text reply
    r = b.run("think about it", script=[{"thinking": "pondering deeply", "text": "thought it"}])
    b.add("thinking", r.session_id)

    # resume: two turns in one file
    r1 = b.run("resume turn one")
    r2 = b.run("resume turn two", "--resume", str(r1.session_id))
    assert r2.session_id == r1.session_id
    b.add("resume", r1.session_id)

    # continue (most recent session of the cwd) in another project dir
    r1 = b.run("continue turn one", cwd="other")
    r2 = b.run("continue turn two", "--continue", cwd="other")
    assert r2.session_id == r1.session_id, (r1.session_id, r2.session_id)
    b.add("continue", r1.session_id)

    # CLI fork of the resume session: a new file repeating the source's entries
    source = corpus.id("resume")
    r = b.run("forked turn", "--resume", source, "--fork-session")
    assert r.session_id != source
    corpus.prompts[str(r.session_id)] = [*corpus.prompts[source], "forked turn"]
    b.add("cli_fork", r.session_id)
    corpus.notes["cli_fork_source"] = source

    # in-file branch: resume at the first reply, so the file holds two branches
    r1 = b.run("branch turn one")
    branch_at = _assistant_uuids(r1)[-1]
    b.run("branch turn two", "--resume", str(r1.session_id))
    r3 = b.run(
        "branch turn alternative",
        "--resume",
        str(r1.session_id),
        "--resume-session-at",
        branch_at,
    )
    assert r3.session_id == r1.session_id
    b.add("branch", r1.session_id)
    corpus.notes["branch_at"] = branch_at

    # parallel tool calls: two Bash echos in one reply
    r = b.run(
        "run two echos",
        "--allowedTools",
        "Bash",
        script=[
            {
                "match": {"last_user_contains": "run two echos"},
                "tool_use": [
                    {"name": "Bash", "input": {"command": "echo alpha", "description": "alpha"}},
                    {"name": "Bash", "input": {"command": "echo beta", "description": "beta"}},
                ],
            },
            {"match": {"last_user_contains": "alpha"}, "text": "both echoed"},
        ],
    )
    b.add("parallel_tools", r.session_id)

    # foreground subagent
    r = b.run(
        "delegate foreground",
        "--allowedTools",
        "Agent",
        script=[
            {
                "match": {"last_user_contains": "delegate foreground", "kind": "main"},
                "tool_use": {
                    "name": "Agent",
                    "input": {
                        "description": "fg task",
                        "prompt": "SUBTASK-FG please work",
                        "subagent_type": "general-purpose",
                        "run_in_background": False,
                    },
                },
            },
            {"match": {"last_user_contains": "SUBTASK-FG"}, "text": "subagent fg done"},
            {"match": {"last_user_contains": "subagent fg done"}, "text": "main saw fg result"},
        ],
    )
    b.add("subagent_fg", r.session_id)

    # background subagent (the default): the run emits two results
    r = b.run(
        "delegate background",
        "--allowedTools",
        "Agent",
        script=[
            {
                "match": {"last_user_contains": "delegate background", "kind": "main"},
                "tool_use": {
                    "name": "Agent",
                    "input": {
                        "description": "bg task",
                        "prompt": "SUBTASK-BG please work",
                        "subagent_type": "general-purpose",
                        "run_in_background": True,
                    },
                },
            },
            {"match": {"last_user_contains": "SUBTASK-BG"}, "text": "subagent bg done"},
        ],
    )
    b.add("subagent_bg", r.session_id)

    # /compact after three turns, then one more turn
    r1 = b.run("compact turn one")
    sid = str(r1.session_id)
    b.run("compact turn two", "--resume", sid)
    b.run("compact turn three", "--resume", sid)
    b.run("/compact", "--resume", sid)
    b.run("after compact turn", "--resume", sid)
    b.add("compact", sid)

    # API error: the CLI retries, then records a synthetic "API Error" assistant entry
    r1 = b.run(
        "trigger error please",
        expect_ok=False,
        script=[
            {
                "match": {"last_user_contains": "trigger error"},
                "error": {
                    "status": 400,
                    "type": "invalid_request_error",
                    "message": "fake bad request",
                },
                "times": 20,
            }
        ],
    )
    assert r1.returncode != 0
    b.run("after the error", "--resume", str(r1.session_id))
    b.add("api_error", r1.session_id)

    # --name
    r = b.run("named session turn", "--name", "Named By Flag")
    b.add("named", r.session_id)

    # official rename_session + tag_session
    r = b.run("sdk renamed turn", cwd="other")
    from claude_agent_sdk import rename_session, tag_session

    with config_env(corpus.config_dir):
        rename_session(str(r.session_id), "Renamed By SDK", directory=str(cwds["other"]))
        tag_session(str(r.session_id), "oracle-tag", directory=str(cwds["other"]))
    b.add("sdk_rename_tag", r.session_id)

    # long cwd (> 200 chars after sanitizing): two sessions, one resumed
    r1 = b.run("long cwd turn one", cwd="long")
    b.run("long cwd turn two", "--resume", str(r1.session_id), cwd="long")
    r2 = b.run("long cwd other session", cwd="long")
    b.add("long_cwd", r1.session_id, r2.session_id)

    # distinct mtimes (1 s apart, in build order) so listing order never depends on ties
    base = time.time() - 3600
    for i, sid in enumerate(corpus.all_session_ids()):
        for path in (corpus.config_dir / "projects").glob(f"*/{sid}.jsonl"):
            os.utime(path, (base + i, base + i))
    server.script([])
    server.clear_requests()
    corpus.build_seconds = time.monotonic() - started
    (root / "corpus.json").write_text(
        json.dumps(
            {
                "sessions": corpus.sessions,
                "cwds": {k: str(v) for k, v in cwds.items()},
                "notes": corpus.notes,
            },
            indent=2,
        )
    )
    return corpus
