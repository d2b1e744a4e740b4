"""The curated public surface: every export exists, the list is sorted, drivers stay lazy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import threadline


def test_all_is_sorted_and_complete() -> None:
    assert threadline.__all__ == sorted(threadline.__all__)
    for name in threadline.__all__:
        assert hasattr(threadline, name), name


def test_official_names_are_there() -> None:
    import claude_agent_sdk

    official = {
        "query",
        "ClaudeSDKClient",
        "ClaudeAgentOptions",
        "AssistantMessage",
        "UserMessage",
        "SystemMessage",
        "ResultMessage",
        "TextBlock",
        "ThinkingBlock",
        "ToolUseBlock",
        "ToolResultBlock",
        "HookMatcher",
        "PermissionResultAllow",
        "PermissionResultDeny",
        "AgentDefinition",
        "tool",
        "create_sdk_mcp_server",
        "list_sessions",
        "get_session_info",
        "get_session_messages",
        "list_subagents",
        "get_subagent_messages",
        "rename_session",
        "tag_session",
        "delete_session",
        "fork_session",
        "project_key_for_directory",
        "list_sessions_from_store",
        "get_session_info_from_store",
        "get_session_messages_from_store",
        "list_subagents_from_store",
        "get_subagent_messages_from_store",
        "rename_session_via_store",
        "tag_session_via_store",
        "delete_session_via_store",
        "fork_session_via_store",
        "import_session_to_store",
        "InMemorySessionStore",
        "fold_session_summary",
        "SDKSessionInfo",
        "SessionMessage",
        "ForkSessionResult",
        "SessionKey",
        "SessionStore",
    }
    assert official <= set(dir(claude_agent_sdk))  # the names really are the official ones
    missing = official - set(threadline.__all__)
    assert not missing, missing


_NEVER_ON_IMPORT = (
    "anthropic",
    "openai",
    "httpx",
    "httpx2",
    "psycopg",
    "redis",
    "cryptography",
    "mcp",
    "rich",
    "click",
    "pygments",
    "tree_sitter",
    "starlette",
    "pydantic",
    "sqlite3",
    "threadline.runtime",
    "threadline.tools",
    "threadline.sessions",
    "threadline.providers",
)
"""Loaded by none of ``import threadline``: its names load on first use."""

_NEVER_IN_A_PLAIN_QUERY = (
    "anthropic",
    "openai",
    "httpx",
    "psycopg",
    "redis",
    "cryptography",
    "mcp",
    "rich",
    "click",
    "pygments",
    "tree_sitter",
    "starlette",
    "pydantic",
    "threadline.sessions.postgres",
    "threadline.sessions.redis",
    "threadline.sessions._bundle",
    "threadline.sessions._transfer",
    "threadline.sessions._search",
    "threadline.cli",
    "threadline.web",
    "importlib.metadata",
    "threadline.tools._sandbox",
    "threadline.runtime._bashperm",
    "threadline.runtime._shell",
    "threadline.runtime._hook_types",
    "threadline.tools._mcp",
    "threadline.sessions._url",
    "threadline.sessions._db",
    "threadline.runtime._checkpoints",
    "secrets",
    "threadline.sessions._store_api",
    "threadline.sessions._disk",
    "threadline.tools._grepsearch",
    "threadline.tools._readwindow",
    "threadline.runtime._claude_types",
    "threadline.runtime._memory_types",
    "threadline.tools._shell_types",
    "httpx2",
    "email",
    "http.client",
    "http.cookiejar",
    "urllib.request",
    "idna",
    "mimetypes",
    "tempfile",
    "importlib.resources",
    "shutil",
    "bz2",
    "lzma",
    "getpass",
)
"""Not needed by a one-turn ``query()`` that calls no tool: the ``anthropic`` package (the
provider posts with httpx2), WebFetch's httpx, the stores' drivers, bundles, transfers,
search, the CLI's and the web UI's libraries, the Bash parser (until a Bash rule is checked),
``importlib.metadata`` (httpx2's and httpcore2's versions are read without it), the sandbox
(unless enabled), the hook payload TypedDicts (the public names only), the MCP client (no
servers configured), the store-URL parser, the database stores' write planning (``FileStore``
reads compaction boundaries from ``sessions/_boundary``), file checkpoints (not enabled),
``secrets`` (background commands, subagents and new notebook cells draw their ids from it),
the store functions and the transcript listing (a resume finds its session with
``sessions/_find``), Grep's search (its tool and schema are in ``tools/_grep``), Read's
line window, the slash command and plugin classes (no command file, no plugin), the
instruction file classes (no ``CLAUDE.md``), the background command classes; ``httpx2`` and
the standard library it imports (``email``, ``http.client``, ``http.cookiejar``,
``urllib.request``, ``idna``, ``mimetypes``; ``tempfile`` and ``importlib.resources`` through
its ``_alias``): the provider posts through ``httpcore2`` when
that is what ``httpx2`` would send (no proxy in the environment, a plain URL); ``shutil``
(with ``bz2`` and ``lzma``: ``FileStore`` needs it only to delete a session); ``getpass``
(for ``AgentOptions.user`` only)."""


def _loaded(code: str, names: tuple[str, ...]) -> list[str]:
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {names!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_import_is_light() -> None:
    assert _loaded("import threadline", _NEVER_ON_IMPORT) == []
    # names still resolve (and are the objects of their modules)
    code = "import threadline\nassert threadline.query.__module__ == 'threadline._query'"
    assert _loaded(code, ("anthropic", "psycopg", "redis")) == []


def test_a_plain_query_loads_only_what_it_needs(fake: Any, project: Path) -> None:
    """Behaviour, not timing: a fresh process's first turn skips every module it does not
    need (the fake server runs in this process, so the child imports only threadline)."""
    code = (
        "import threadline\n"
        "async def main():\n"
        "    async for m in threadline.query(prompt='hi', options=threadline.AgentOptions()):\n"
        "        pass\n"
        "    assert m.result == 'echo: hi', m\n"
        "import anyio\n"
        "anyio.run(main)"
    )
    assert _loaded(code, _NEVER_IN_A_PLAIN_QUERY) == []
    assert len(fake.message_requests()) == 1


def test_a_resume_that_writes_nothing_loads_no_redactor_or_index(fake: Any, project: Path) -> None:
    """A fresh process resuming with ``persist_session=False`` (a worker reading a session)
    builds no redactor (no ``re2``, not even the rules), opens no summary index (no
    ``sqlite3``) and loads none of the session readers' result types."""
    first = (
        "import threadline, anyio\n"
        "async def main():\n"
        "    async for m in threadline.query(prompt='hi', options=threadline.AgentOptions()):\n"
        "        pass\n"
        "    print(m.session_id)\n"
        "anyio.run(main)"
    )
    out = subprocess.run([sys.executable, "-c", first], capture_output=True, text=True, check=True)
    sid = out.stdout.strip().splitlines()[-1]
    code = (
        "import threadline, anyio\n"
        "async def main():\n"
        f"    options = threadline.AgentOptions(resume={sid!r}, persist_session=False)\n"
        "    async for m in threadline.query(prompt='again', options=options):\n"
        "        pass\n"
        "    assert m.result == 'echo: again', m\n"
        "anyio.run(main)"
    )
    never = (
        *_NEVER_IN_A_PLAIN_QUERY,
        "re2",
        "sqlite3",
        "threadline.privacy._rules",
        "threadline.transcript._lite",
        "threadline._results",
    )
    assert _loaded(code, never) == []
    assert len(fake.message_requests()) == 2


def test_the_first_lazy_import_pauses_the_gc_and_restores_it() -> None:
    """``threadline.query`` imports the runtime with the cyclic GC paused; afterwards the GC
    is on again, nothing stays frozen, and a program's own GC settings are kept."""
    spy = (
        "import gc, importlib, threadline\n"
        "seen = []\n"
        "real = importlib.import_module\n"
        "def spy(name, package=None):\n"
        "    seen.append(gc.isenabled())\n"
        "    return real(name, package)\n"
        "importlib.import_module = spy\n"
    )
    paused = "bool(seen) and not any(seen)"
    plain = _run_lines(spy + f"threadline.query\nprint({paused}, gc.isenabled(), gc.get_freeze_count())")
    assert plain == ["True True 0"]
    frozen = "gc.freeze()\nthreadline.query\n"  # unfreezing would empty the permanent generation
    assert _run_lines(spy + frozen + "print(gc.get_freeze_count() > 0, gc.isenabled())") == [
        "True True"
    ]
    off = f"gc.disable()\nthreadline.query\nprint({paused}, gc.isenabled())"
    assert _run_lines(spy + off) == ["True False"]
    # a CLI command's module (``threadline run``) loads the same way (threadline._lazy)
    command = "from threadline.cli import cli\ncli.get_command(None, 'run')\n"
    assert _run_lines(spy + command + f"print({paused}, gc.isenabled())") == ["True True"]


def test_the_first_provider_import_pauses_the_gc_and_restores_it() -> None:
    """The Anthropic provider's first import (httpx2, httpcore2) runs with the cyclic GC
    paused, as threadline's lazy names do; afterwards the GC is on, nothing stays frozen."""
    code = (
        "import gc, importlib\n"
        "from threadline.providers._registry import ProviderConfig, create_provider\n"
        "seen = []\n"
        "real = importlib.import_module\n"
        "def spy(name, package=None):\n"
        "    seen.append((name, gc.isenabled()))\n"
        "    return real(name, package)\n"
        "importlib.import_module = spy\n"
        "create_provider('anthropic', ProviderConfig(api_key='k'))\n"
        "print(dict(seen)['.anthropic'], gc.isenabled(), gc.get_freeze_count())"
    )
    assert _run_lines(code) == ["False True 0"]


def _run_lines(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()


def test_listing_sessions_loads_no_async_library(tmp_path: Path) -> None:
    """A plain ``list_sessions()`` in a fresh process reads files: it loads no anyio (the
    write lock checks a worker thread's cancellation only when anyio is loaded)."""
    code = (
        "import os, threadline\n"
        f"os.environ['CLAUDE_CONFIG_DIR'] = {str(tmp_path)!r}\n"
        "threadline.list_sessions()"
    )
    assert _loaded(code, ("anyio", "anyio.from_thread", "asyncio")) == []
