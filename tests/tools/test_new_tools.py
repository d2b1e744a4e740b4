"""NotebookEdit, the task tools, TodoWrite, WebFetch, WebSearch and Skill."""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest

from threadline.tools import (
    SearchHit,
    SkillTool,
    ToolContext,
    ToolState,
    builtin_tool,
    load_skills,
    run_tool,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def sctx(ctx: ToolContext, tmp_path: Path) -> ToolContext:
    return ToolContext(
        cwd=ctx.cwd,
        session_id=ctx.session_id,
        state=ToolState(config_dir=tmp_path / "config", web_fetch_allow_private=True),
    )


async def _call(name: str, input: dict[str, Any], ctx: ToolContext) -> Any:
    return await run_tool(builtin_tool(name), input, ctx)


# ----------------------------------------------------------------------------- NotebookEdit


def _notebook(path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "cells": [
                    {"cell_type": "code", "id": "aaa", "metadata": {}, "source": ["x = 1\n"],
                     "execution_count": 3, "outputs": [{"output_type": "stream", "text": "1"}]},
                    {"cell_type": "markdown", "id": "bbb", "metadata": {}, "source": ["# T"]},
                ],
                "metadata": {},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )


async def test_notebook_edit(sctx: ToolContext) -> None:
    nb = sctx.cwd / "a.ipynb"
    _notebook(nb)
    r = await _call("NotebookEdit", {"notebook_path": str(nb), "cell_id": "aaa",
                                     "new_source": "x = 2\nprint(x)"}, sctx)
    assert not r.is_error and r.content == "Updated cell aaa with x = 2\nprint(x)"
    cells = json.loads(nb.read_text())["cells"]
    assert cells[0]["source"] == ["x = 2\n", "print(x)"]
    assert cells[0]["outputs"] == [] and cells[0]["execution_count"] is None
    r = await _call("NotebookEdit", {"notebook_path": str(nb), "cell_id": "cell-1",
                                     "new_source": "new", "edit_mode": "insert",
                                     "cell_type": "code"}, sctx)
    assert not r.is_error and r.content.startswith("Inserted cell ")
    cells = json.loads(nb.read_text())["cells"]
    assert [c["cell_type"] for c in cells] == ["code", "markdown", "code"]
    r = await _call("NotebookEdit", {"notebook_path": str(nb), "cell_id": "bbb",
                                     "new_source": "", "edit_mode": "delete"}, sctx)
    assert r.content == "Deleted cell bbb"
    assert len(json.loads(nb.read_text())["cells"]) == 2
    r = await _call("NotebookEdit", {"notebook_path": str(nb), "cell_id": "zzz",
                                     "new_source": "x"}, sctx)
    assert r.is_error and 'Cell with ID "zzz" not found' in r.content
    r = await _call("NotebookEdit", {"notebook_path": str(nb), "new_source": "x",
                                     "edit_mode": "insert"}, sctx)
    assert r.is_error and "Cell type is required" in r.content
    r = await _call("NotebookEdit", {"notebook_path": str(sctx.cwd / "x.txt"),
                                     "new_source": "x"}, sctx)
    assert r.is_error


# ----------------------------------------------------------------------------- tasks


async def test_task_tools_answer_as_the_cli(sctx: ToolContext, tmp_path: Path) -> None:
    """The answers the bundled CLI 2.1.330 gave for the same calls (captured)."""
    r = await _call("TaskCreate", {"subject": "Write tests", "description": "Write the unit tests",
                                   "activeForm": "Writing tests"}, sctx)
    assert r.content == "Task #1 created successfully: Write tests"
    assert r.structured == {"task": {"id": "1", "subject": "Write tests",
                                     "description": "Write the unit tests"}}
    r = await _call("TaskCreate", {"subject": "Fix bug", "description": "Fix it"}, sctx)
    assert r.content == "Task #2 created successfully: Fix bug"
    r = await _call("TaskUpdate", {"taskId": "1", "status": "in_progress", "addBlocks": ["2"]},
                    sctx)
    assert r.content == "Updated task #1 status, blocks"
    assert r.structured["statusChange"] == {"from": "pending", "to": "in_progress"}
    r = await _call("TaskList", {}, sctx)
    assert r.content == "#1 [in_progress] Write tests\n#2 [pending] Fix bug [blocked by #1]"
    r = await _call("TaskGet", {"taskId": "2"}, sctx)
    assert r.content == "Task #2: Fix bug\nStatus: pending\nDescription: Fix it\nBlocked by: #1"
    r = await _call("TaskUpdate", {"taskId": "1", "status": "deleted"}, sctx)
    assert r.content == "Updated task #1 deleted"
    r = await _call("TaskGet", {"taskId": "1"}, sctx)
    assert r.content == "Task not found" and r.structured == {"task": None}
    stored = json.loads(
        (tmp_path / "config" / "tasks" / sctx.session_id / "2.json").read_text()
    )
    assert stored == {"id": "2", "subject": "Fix bug", "description": "Fix it",
                      "status": "pending", "blocks": [], "blockedBy": []}
    r = await _call("TaskCreate", {"subject": "Third", "description": "d"}, sctx)
    assert r.content.startswith("Task #3 ")  # ids are not reused


async def test_todo_write(sctx: ToolContext) -> None:
    todos = [{"content": "Run tests", "status": "in_progress", "activeForm": "Running tests"}]
    r = await _call("TodoWrite", {"todos": todos}, sctx)
    assert not r.is_error and r.structured == {"oldTodos": [], "newTodos": todos}
    r = await _call("TodoWrite", {"todos": [{"content": "x", "status": "bad",
                                             "activeForm": "y"}]}, sctx)
    assert r.is_error


# ----------------------------------------------------------------------------- WebFetch


@pytest.fixture
def site() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/away":
                self.send_response(302)
                self.send_header("Location", "http://example.invalid/x")
                self.end_headers()
                return
            if self.path == "/here":
                self.send_response(301)
                self.send_header("Location", "/")
                self.end_headers()
                return
            body = (
                b"<html><head><title>T</title><script>evil()</script></head><body>"
                b"<h1>Hello</h1><p>Some <b>bold</b> text and a <a href='/x'>link</a>.</p>"
                + b"<p>" + b"word " * 30000 + b"</p></body></html>"
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_web_fetch_markdown_and_paging(sctx: ToolContext, site: str) -> None:
    r = await _call("WebFetch", {"url": site + "/here", "prompt": "What is the title?"}, sctx)
    assert not r.is_error, r.content
    text = r.content
    assert text.startswith("Prompt: What is the title?")
    assert "# Hello" in text and "**bold**" in text and "[link](/x)" in text
    assert "evil()" not in text
    assert "call WebFetch with offset 100000" in text
    r = await _call("WebFetch", {"url": site + "/", "prompt": "p", "offset": 100000}, sctx)
    assert "word" in r.content and "with offset" not in r.content  # the last window


async def test_web_fetch_refuses_private_addresses(ctx: ToolContext, site: str) -> None:
    strict = ToolContext(cwd=ctx.cwd, session_id=ctx.session_id, state=ToolState())
    for url in (site + "/", "http://localhost:9/", "http://[::1]:9/", "http://169.254.169.254/"):
        r = await _call("WebFetch", {"url": url, "prompt": "p"}, strict)
        assert r.is_error and "non-public address" in r.content, url
    r = await _call("WebFetch", {"url": "file:///etc/passwd", "prompt": "p"}, strict)
    assert r.is_error and "Invalid URL" in r.content


async def test_web_fetch_cross_host_redirect_is_reported(sctx: ToolContext, site: str) -> None:
    r = await _call("WebFetch", {"url": site + "/away", "prompt": "p"}, sctx)
    assert "REDIRECT DETECTED" in r.content and "http://example.invalid/x" in r.content


# ----------------------------------------------------------------------------- WebSearch


class _Backend:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def search(
        self, query: str, *, allowed_domains: Sequence[str] = (),
        blocked_domains: Sequence[str] = ()
    ) -> Sequence[SearchHit]:
        self.calls.append(query)
        return [
            SearchHit("Docs", "https://docs.python.org/3/", "The docs"),
            SearchHit("Spam", "https://spam.example.com/", "Buy"),
        ]


async def test_web_search(ctx: ToolContext) -> None:
    none = ToolContext(cwd=ctx.cwd, session_id=ctx.session_id, state=ToolState())
    r = await _call("WebSearch", {"query": "python docs"}, none)
    assert r.is_error and "no search backend is configured" in r.content
    backend = _Backend()
    sctx = ToolContext(cwd=ctx.cwd, session_id=ctx.session_id,
                       state=ToolState(search_backend=backend))
    r = await _call("WebSearch", {"query": "python docs",
                                  "blocked_domains": ["example.com"]}, sctx)
    assert not r.is_error
    assert "[Docs](https://docs.python.org/3/)" in r.content and "spam" not in r.content
    assert backend.calls == ["python docs"]


# ----------------------------------------------------------------------------- Skill


async def test_skills(tmp_path: Path, ctx: ToolContext) -> None:
    project = tmp_path / "proj" / ".claude" / "skills"
    user = tmp_path / "home" / ".claude" / "skills"
    (project / "pdf").mkdir(parents=True)
    (project / "pdf" / "SKILL.md").write_text(
        "---\nname: pdf\ndescription: Work with PDF files\nallowed-tools: Bash\n---\n"
        "# PDF\nRun scripts/extract.py on the file.\n"
    )
    (user / "pdf").mkdir(parents=True)
    (user / "pdf" / "SKILL.md").write_text("---\nname: pdf\ndescription: shadowed\n---\nno\n")
    (user / "notes").mkdir(parents=True)
    (user / "notes" / "SKILL.md").write_text("Take notes in NOTES.md\n")
    (user / "empty").mkdir()
    skills = load_skills([project, user, tmp_path / "missing"])
    assert sorted(skills) == ["notes", "pdf"]
    assert skills["pdf"].description == "Work with PDF files"
    assert skills["pdf"].metadata["allowed-tools"] == "Bash"
    assert skills["notes"].description == "Take notes in NOTES.md"
    tool = SkillTool(skills)
    assert "- pdf: Work with PDF files" in tool.description
    r = await run_tool(tool, {"skill": "pdf", "args": "report.pdf"}, ctx)
    assert not r.is_error
    assert r.content.startswith(f"Base directory for this skill: {project / 'pdf'}")
    assert "Run scripts/extract.py" in r.content and r.content.endswith("ARGUMENTS: report.pdf")
    r = await run_tool(tool, {"skill": "nope"}, ctx)
    assert r.is_error and "Available skills: notes, pdf" in r.content


async def test_web_fetch_slow_drip_is_cut_by_a_total_deadline(
    sctx: ToolContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server dripping a byte every 0.2 s never trips the per-read timeout; the total does."""
    import socket

    from threadline.tools import _web

    monkeypatch.setattr(_web, "TOTAL_TIMEOUT_S", 1.0, raising=False)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        with contextlib.suppress(OSError):
            while not stop.wait(0.2):
                conn.sendall(b"x")
        conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    try:
        with anyio.fail_after(30):  # a hang guard, far above the 1 s deadline
            r = await _call("WebFetch", {"url": url, "prompt": "p"}, sctx)
        assert r.is_error and "longer than 1 s" in r.content
    finally:
        stop.set()
        listener.close()
