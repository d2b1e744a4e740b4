"""Deterministic synthetic Claude Code transcript corpus for the benchmarks.

The corpus is a Claude config dir (``<root>/projects/<project key>/<uuid>.jsonl``)
holding one big session (``big_entries`` lines) and ``n_small`` small sessions
of a few turns each, spread over ``n_projects`` project directories.

Lines imitate what Claude Code 2.1.x writes (see
``/work/shared/reference/claude-code-cli-offline.md``): every chain entry
carries ``parentUuid, isSidechain, userType, cwd, sessionId, version,
gitBranch, type, message, uuid, timestamp``; one assistant entry per content
block, all sharing ``message.id`` and chained by ``parentUuid``; each
``tool_result`` user entry hangs off its own ``tool_use`` entry and carries
``toolUseResult`` and ``sourceToolAssistantUUID`` (so parallel calls leave an
off-chain branch that readers must recover); ``attachment``, ``system`` and
``progress`` chain entries; ``queue-operation``, ``file-history-snapshot``,
``last-prompt``, ``custom-title``, ``tag`` and ``cost-state`` metadata lines.
Text sizes are log-uniform between 50 B and 5 KB, with occasional 50 KB tool
results.

Generation is seeded, so the same parameters give byte-identical files. The
result is cached under ``bench/.data/<hash of parameters>/`` (written to a
temporary sibling first, then renamed), and file mtimes are pinned to each
session's last timestamp so listing order is deterministic.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import re
import shutil
import uuid as uuidlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

GENERATOR_VERSION = 3
VERSION = "2.1.330"
MODEL = "claude-opus-5-5"
DATA_DIR = Path(__file__).resolve().parent / ".data"

_WORDS = (
    "the session transcript parser reads every line and builds the chain from parentUuid "
    "links while the listing only needs head and tail bytes so it is cheap function class "
    "return import module value error handler config directory project worktree branch "
    "commit test fixture assert result message assistant user tool call input output "
    "stream buffer cache index sqlite memo fork rename tag delete summary prompt title "
    "we should refactor this loop because it allocates too much and the profile shows "
    "json decoding dominates the runtime after that comes dictionary construction "
    "naïve café façade résumé – “quoted” ‘text’ → arrows ✓ done 日本語 テキスト 中文 "
    "path/to/file.py src/pkg/mod.rs README.md Cargo.toml pyproject.toml"
).split()

_TOOLS = ("Read", "Bash", "Edit", "Write", "Grep", "Glob")


@dataclass(frozen=True)
class CorpusParams:
    seed: int = 20260501
    big_entries: int = 20_000
    n_small: int = 3_000
    n_projects: int = 30

    def key(self) -> str:
        raw = orjson.dumps({**asdict(self), "gen": GENERATOR_VERSION}, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class Corpus:
    root: Path
    params: CorpusParams
    big_id: str
    big_cwd: str
    big_path: str
    small_id: str
    small_cwd: str
    directory_cwd: str
    cwds: list[str] = field(default_factory=list)
    n_files: int = 0
    total_bytes: int = 0
    big_bytes: int = 0
    big_lines: int = 0

    @property
    def projects(self) -> Path:
        return self.root / "projects"


def project_key(path: str) -> str:
    # Short synthetic paths only (< 200 chars): no hash suffix needed.
    key = re.sub(r"[^a-zA-Z0-9]", "-", path)
    assert len(key) <= 200
    return key


class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        # One pool of text; snippets are slices at random offsets (fast, deterministic).
        words = rng.choices(_WORDS, k=120_000)
        parts: list[str] = []
        for i, w in enumerate(words):
            parts.append(w)
            r = (i * 2654435761) % 97
            if r == 0:
                parts.append("\n\n")
            elif r == 1:
                parts.append('"quoted" \\escaped\\ \t')
            elif r == 2:
                parts.append("`code()`")
            else:
                parts.append(" ")
        self.pool = "".join(parts)

    def uuid(self) -> str:
        return str(uuidlib.UUID(int=self.rng.getrandbits(128), version=4))

    def hexid(self, n: int = 24) -> str:
        return f"{self.rng.getrandbits(n * 4):0{n}x}"

    def text(self, lo: int = 50, hi: int = 5000) -> str:
        n = int(math.exp(self.rng.uniform(math.log(lo), math.log(hi))))
        start = self.rng.randrange(0, len(self.pool) - n - 1)
        return self.pool[start : start + n].strip() or "ok"


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class _SessionWriter:
    """Builds the lines of one session, keeping the chain state."""

    def __init__(self, g: _Gen, sid: str, cwd: str, branch: str, start: datetime) -> None:
        self.g = g
        self.rng = g.rng
        self.sid = sid
        self.cwd = cwd
        self.branch = branch
        self.t = start
        self.parent: str | None = None
        self.lines: list[bytes] = []
        self.n_chain = 0
        self.first_prompt: str | None = None

    # -- helpers ---------------------------------------------------------
    def tick(self, lo_ms: int = 5, hi_ms: int = 4000) -> str:
        self.t += timedelta(milliseconds=self.rng.randint(lo_ms, hi_ms))
        return _ts(self.t)

    def emit(self, obj: dict) -> None:
        self.lines.append(orjson.dumps(obj))

    def base(self, typ: str, parent: str | None, **extra: object) -> dict:
        u = self.g.uuid()
        d: dict = {"parentUuid": parent, "isSidechain": False}
        d.update(extra)
        d["type"] = typ
        d["uuid"] = u
        d["timestamp"] = self.tick()
        d.update(
            userType="external",
            entrypoint="cli",
            cwd=self.cwd,
            sessionId=self.sid,
            version=VERSION,
            gitBranch=self.branch,
        )
        return d

    def chain(self, typ: str, **extra: object) -> dict:
        d = self.base(typ, self.parent, **extra)
        # `type` must not be overwritten by extra; base() puts it after extra.
        self.emit(d)
        self.parent = d["uuid"]
        self.n_chain += 1
        return d

    # -- entry kinds -----------------------------------------------------
    def queue_ops(self, prompt: str) -> None:
        ts = self.tick(1, 3)
        self.emit(
            {
                "type": "queue-operation",
                "operation": "enqueue",
                "timestamp": ts,
                "sessionId": self.sid,
                "content": prompt[:200],
            }
        )
        self.emit(
            {
                "type": "queue-operation",
                "operation": "dequeue",
                "timestamp": self.tick(1, 3),
                "sessionId": self.sid,
            }
        )

    def file_history(self, message_id: str) -> None:
        ts = _ts(self.t)
        backups = {}
        if self.rng.random() < 0.4:
            for _ in range(self.rng.randint(1, 3)):
                p = f"src/mod_{self.rng.randint(0, 99)}.py"
                backups[p] = {
                    "backupFileName": f"{self.g.hexid(16)}@v{self.rng.randint(1, 5)}",
                    "version": self.rng.randint(1, 5),
                    "backupTime": ts,
                }
        self.emit(
            {
                "type": "file-history-snapshot",
                "messageId": message_id,
                "snapshot": {
                    "messageId": message_id,
                    "trackedFileBackups": backups,
                    "timestamp": ts,
                },
                "isSnapshotUpdate": False,
            }
        )

    def user_prompt(self, text: str) -> dict:
        if self.first_prompt is None:
            self.first_prompt = text
        # file-history-snapshot precedes the prompt and names its uuid; we
        # write it after choosing the uuid, as the CLI does.
        d = self.base(
            "user",
            self.parent,
            promptId=self.g.uuid(),
            message={"role": "user", "content": text},
        )
        d["permissionMode"] = "default"
        self.file_history(d["uuid"])
        self.emit(d)
        self.parent = d["uuid"]
        self.n_chain += 1
        return d

    def meta_user(self) -> None:
        self.chain(
            "user",
            message={
                "role": "user",
                "content": "<local-command-caveat>Caveat: The messages below were generated by the user while running local commands. DO NOT respond to these messages or otherwise consider them in your response unless the user explicitly asks you to.</local-command-caveat>",
            },
            isMeta=True,
        )

    def attachment(self, first: bool) -> None:
        rng = self.rng
        if first:
            att = {
                "type": "environment",
                "snapshot": {
                    "workingDirectory": self.cwd,
                    "isWorktree": False,
                    "isGitRepo": True,
                    "additionalWorkingDirectories": [],
                    "platform": "linux",
                    "shell": "bash",
                    "osVersion": "Linux 6.18.44",
                },
            }
            rendered = f"<system-reminder>\n# Environment\n - Primary working directory: {self.cwd}\n - Is a git repository: true\n - Platform: linux\n</system-reminder>"
        else:
            kind = rng.choice(("date", "deferred_tools_delta", "edited_text_file", "todo_reminder"))
            if kind == "deferred_tools_delta":
                names = ["CronCreate", "CronDelete", "Monitor", "WebFetch", "WebSearch"]
                att = {"type": kind, "addedNames": names, "addedLines": names, "removedNames": []}
                rendered = (
                    "<system-reminder>\nThe following deferred tools are now available via ToolSearch:\n"
                    + "\n".join(names)
                    + "\n</system-reminder>"
                )
            elif kind == "date":
                att = {"type": "date", "date": self.t.strftime("%Y-%m-%d")}
                rendered = f"<system-reminder>\nToday's date is {att['date']}.\n</system-reminder>"
            else:
                snippet = self.g.text(50, 1500)
                att = {
                    "type": kind,
                    "filename": f"{self.cwd}/src/mod_{rng.randint(0, 99)}.py",
                    "snippet": snippet,
                }
                rendered = f"<system-reminder>\n{snippet}\n</system-reminder>"
        self.chain(
            "attachment", attachment=att, rendered=[{"content": rendered}], renderedRole="system"
        )

    def assistant_response(self, n_tools: int, final: bool) -> list[tuple[str, str, str]]:
        """Writes the blocks of one API response; returns (tool_use_id, name, entry uuid)."""
        rng = self.rng
        g = self.g
        msg_id = "msg_" + g.hexid(24)
        req_id = "req_" + g.hexid(24)
        usage = {
            "input_tokens": rng.randint(3, 40_000),
            "cache_creation_input_tokens": rng.randint(0, 5000),
            "cache_read_input_tokens": rng.randint(0, 90_000),
            "output_tokens": rng.randint(5, 4000),
            "service_tier": "standard",
        }
        blocks: list[dict] = []
        if rng.random() < 0.5:
            blocks.append(
                {
                    "type": "thinking",
                    "thinking": g.text(50, 3000),
                    "signature": "sig_" + g.hexid(48),
                }
            )
        if final or n_tools == 0 or rng.random() < 0.7:
            blocks.append({"type": "text", "text": g.text()})
        calls = []
        for _ in range(n_tools):
            name = rng.choice(_TOOLS)
            tid = "toolu_" + g.hexid(24)
            if name == "Bash":
                inp = {
                    "command": f"pytest -x tests/test_{rng.randint(0, 50)}.py -q",
                    "description": "Run tests",
                }
            elif name in ("Read", "Write"):
                inp = {"file_path": f"{self.cwd}/src/mod_{rng.randint(0, 99)}.py"}
                if name == "Write":
                    inp["content"] = g.text(200, 5000)
            elif name == "Edit":
                inp = {
                    "file_path": f"{self.cwd}/src/mod_{rng.randint(0, 99)}.py",
                    "old_string": g.text(50, 400),
                    "new_string": g.text(50, 400),
                }
            else:
                inp = {
                    "pattern": rng.choice(("def \\w+", "TODO", "import orjson", "*.py")),
                    "path": self.cwd,
                }
            blocks.append({"type": "tool_use", "id": tid, "name": name, "input": inp})
            calls.append((tid, name))
        stop = "tool_use" if n_tools else "end_turn"
        out = []
        for i, b in enumerate(blocks):
            msg = {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": MODEL,
                "content": [b],
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            }
            d = self.chain("assistant", message=msg, requestId=req_id, apiBlockIndex=i)
            if b["type"] == "tool_use":
                out.append((b["id"], b["name"], d["uuid"]))
        return out

    def tool_results(self, calls: list[tuple[str, str, str]]) -> None:
        """One user entry per call, each parented on its own tool_use entry."""
        rng = self.rng
        g = self.g
        last = None
        for tid, name, owner in calls:
            if rng.random() < 0.01:
                content = g.text(49_000, 51_000)  # occasional ~50 KB result
            else:
                content = g.text()
            is_error = rng.random() < 0.05
            if name == "Bash":
                tur: object = {
                    "stdout": content,
                    "stderr": "",
                    "interrupted": False,
                    "isImage": False,
                }
            elif name == "Read":
                tur = {
                    "type": "text",
                    "file": {
                        "filePath": f"{self.cwd}/src/x.py",
                        "content": content,
                        "numLines": content.count("\n") + 1,
                        "startLine": 1,
                        "totalLines": 400,
                    },
                }
            elif name in ("Grep", "Glob"):
                tur = {
                    "mode": "files_with_matches",
                    "filenames": [f"src/mod_{i}.py" for i in range(rng.randint(0, 8))],
                    "numFiles": 3,
                }
            else:
                tur = {
                    "filePath": f"{self.cwd}/src/x.py",
                    "structuredPatch": [],
                    "userModified": False,
                }
            if is_error:
                tur = "Error: " + content[:200]
            # progress entries (hooks) sometimes sit between the call and its result
            parent = owner
            if rng.random() < 0.05:
                p = self.base(
                    "progress",
                    owner,
                    data={
                        "type": "hook_progress",
                        "hookEvent": "PostToolUse",
                        "hookName": "PostToolUse:" + name,
                        "command": "./hooks/lint.sh",
                    },
                    parentToolUseID=tid,
                    toolUseID=tid,
                )
                self.emit(p)
                self.n_chain += 1
                parent = p["uuid"]
            d = self.base(
                "user",
                parent,
                message={
                    "role": "user",
                    "content": [
                        {
                            "tool_use_id": tid,
                            "type": "tool_result",
                            "content": content,
                            "is_error": is_error,
                        }
                    ],
                },
                toolUseResult=tur,
                sourceToolAssistantUUID=owner,
            )
            self.emit(d)
            self.n_chain += 1
            last = d["uuid"]
        self.parent = last

    def system_entry(self) -> None:
        if self.rng.random() < 0.5:
            self.chain(
                "system",
                subtype="turn_duration",
                durationMs=self.rng.randint(500, 90_000),
                isMeta=False,
            )
        else:
            self.chain(
                "system",
                subtype="local_command",
                content="<local-command-stdout>Set model to claude-opus-5-5</local-command-stdout>",
                level="info",
                isMeta=False,
            )

    def turn(self, prompt: str, max_steps: int) -> None:
        rng = self.rng
        first = self.n_chain == 0
        if first:
            self.queue_ops(prompt)
        self.user_prompt(prompt)
        if first:
            self.attachment(True)
        elif rng.random() < 0.3:
            self.attachment(False)
        steps = rng.randint(0, max_steps)
        for _ in range(steps):
            r = rng.random()
            n_tools = 1 if r < 0.75 else rng.randint(2, 4)  # parallel calls ~25 %
            calls = self.assistant_response(n_tools, final=False)
            self.tool_results(calls)
            if rng.random() < 0.1:
                self.attachment(False)
        self.assistant_response(0, final=True)
        if rng.random() < 0.4:
            self.system_entry()
        self.emit(
            {
                "type": "last-prompt",
                "lastPrompt": prompt[:200],
                "leafUuid": self.parent,
                "sessionId": self.sid,
            }
        )

    def metadata(self, title: str | None, tag: str | None) -> None:
        if title is not None:
            self.emit({"type": "custom-title", "customTitle": title, "sessionId": self.sid})
        if tag is not None:
            self.emit({"type": "tag", "tag": tag, "sessionId": self.sid})

    def cost_state(self) -> None:
        self.emit(
            {
                "type": "cost-state",
                "sessionId": self.sid,
                "totalCostUSD": round(self.rng.random() * 3, 6),
                "totalAPIDuration": self.rng.randint(100, 10**6),
            }
        )


def _prompt(g: _Gen) -> str:
    r = g.rng.random()
    if r < 0.05:
        return "<command-name>/review</command-name>\n<command-message>review</command-message>\n<command-args></command-args>"
    if r < 0.6:
        return g.text(20, 300)
    return g.text(300, 5000)


def _write(path: Path, lines: list[bytes], mtime: datetime) -> int:
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(data)
    ts = mtime.timestamp()
    os.utime(path, (ts, ts))
    return len(data)


def _generate(root: Path, p: CorpusParams) -> Corpus:
    rng = random.Random(p.seed)
    g = _Gen(rng)
    projects = root / "projects"
    names = [
        "api-server",
        "web_app",
        "ml.pipeline",
        "infra",
        "docs-site",
        "cli-tool",
        "data_lake",
        "mobile",
    ]
    cwds = []
    for i in range(p.n_projects):
        base = names[i % len(names)]
        cwds.append(f"/home/dev/src/{base}-{i:02d}")
    for c in cwds:
        (projects / project_key(c)).mkdir(parents=True, exist_ok=True)

    t0 = datetime(2026, 3, 1, 9, 0, 0, tzinfo=timezone.utc)
    total = 0
    n_files = 0

    # ---- the big session ---------------------------------------------------
    big_id = g.uuid()
    big_cwd = cwds[0]
    w = _SessionWriter(g, big_id, big_cwd, "main", t0)
    turn_no = 0
    while w.n_chain < p.big_entries:
        turn_no += 1
        w.turn(_prompt(g), max_steps=8)
        if turn_no % 40 == 0 and rng.random() < 0.5:
            w.meta_user()
        if turn_no == 25:
            w.metadata("Big refactor of the transcript reader", None)
        if turn_no % 60 == 0:
            w.cost_state()
    w.metadata(None, "perf")
    big_path = projects / project_key(big_cwd) / f"{big_id}.jsonl"
    big_bytes = _write(big_path, w.lines, w.t)
    big_lines = len(w.lines)
    total += big_bytes
    n_files += 1
    last_big = w.t

    # ---- the small sessions ------------------------------------------------
    small_ids = []
    mt = t0 + timedelta(days=1)
    for i in range(p.n_small):
        sid = g.uuid()
        cwd = cwds[rng.randrange(len(cwds))]
        branch = rng.choice(("main", "main", "feature/index", "fix/escape", "HEAD"))
        start = mt + timedelta(seconds=rng.randint(0, 3600))
        w = _SessionWriter(g, sid, cwd, branch, start)
        for _ in range(rng.randint(1, 4)):
            w.turn(_prompt(g), max_steps=3)
        r = rng.random()
        title = g.text(20, 80) if r < 0.2 else None
        tag = rng.choice(("wip", "bug", "__hidden", "")) if rng.random() < 0.1 else None
        w.metadata(title, tag)
        path = projects / project_key(cwd) / f"{sid}.jsonl"
        # distinct ms mtimes so the sort order does not depend on ties
        mt = max(w.t, mt) + timedelta(milliseconds=rng.randint(1, 90_000))
        total += _write(path, w.lines, mt)
        n_files += 1
        small_ids.append((sid, cwd))

    small_id, small_cwd = small_ids[len(small_ids) // 2]
    # the project with the most sessions (other than the big one's)
    counts: dict[str, int] = {}
    for _, c in small_ids:
        counts[c] = counts.get(c, 0) + 1
    directory_cwd = cwds[1]
    del last_big
    return Corpus(
        root=root,
        params=p,
        big_id=big_id,
        big_cwd=big_cwd,
        big_path=str(big_path),
        small_id=small_id,
        small_cwd=small_cwd,
        directory_cwd=directory_cwd,
        cwds=cwds,
        n_files=n_files,
        total_bytes=total,
        big_bytes=big_bytes,
        big_lines=big_lines,
    )


def _manifest(c: Corpus) -> bytes:
    d = asdict(c)
    d["root"] = str(c.root)
    return orjson.dumps(d, option=orjson.OPT_INDENT_2)


def ensure_corpus(
    p: CorpusParams | None = None, *, data_dir: Path = DATA_DIR, log=print
) -> tuple[Corpus, bool]:
    """Returns (corpus, generated_now). Reuses ``data_dir/<key>`` if complete."""
    p = p or CorpusParams()
    final = data_dir / p.key()
    man = final / "manifest.json"
    if man.is_file():
        d = orjson.loads(man.read_bytes())
        d["root"] = final
        d["params"] = CorpusParams(**d["params"])
        return Corpus(**d), False
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".tmp-{p.key()}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    log(f"generating corpus {p} into {final} ...")
    c = _generate(tmp, p)
    c.root = final
    c.big_path = c.big_path.replace(str(tmp), str(final), 1)
    (tmp / "manifest.json").write_bytes(_manifest(c))
    try:
        os.rename(tmp, final)
    except OSError:  # a concurrent run won the race
        shutil.rmtree(tmp, ignore_errors=True)
        return ensure_corpus(p, data_dir=data_dir, log=log)
    return c, True


if __name__ == "__main__":
    import sys
    import time

    t = time.perf_counter()
    corpus, fresh = ensure_corpus()
    print(
        corpus.root,
        "fresh" if fresh else "cached",
        f"{time.perf_counter() - t:.1f}s",
        corpus.n_files,
        "files",
        corpus.total_bytes >> 20,
        "MiB",
        file=sys.stderr,
    )
