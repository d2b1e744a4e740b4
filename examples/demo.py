"""threadline in one minute: a session is created, resumed from another directory, forked and listed.

Runs against a local fake model server unless ANTHROPIC_API_KEY is set (then the real API),
and keeps its sessions in a temporary Claude config dir (removed at the end) unless
--config-dir is given.

    python examples/demo.py [--config-dir DIR] [--model MODEL]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import anyio

from threadline import (
    AgentOptions,
    AssistantMessage,
    ResultMessage,
    TextBlock,
    fork_session,
    get_session_messages,
    list_sessions,
    query,
    rename_session,
)


def _text(message: AssistantMessage) -> str:
    return "".join(b.text for b in message.content if isinstance(b, TextBlock))


async def turn(prompt: str, options: AgentOptions) -> str:
    session_id = ""
    async for message in query(prompt=prompt, options=options):
        if isinstance(message, AssistantMessage) and _text(message):
            print(f"  assistant: {_text(message)[:100]}")
        if isinstance(message, ResultMessage):
            session_id = message.session_id
            print(f"  result: {message.subtype}, {message.num_turns} turn(s), "
                  f"${message.total_cost_usd or 0:.4f}, session {session_id}")
    return session_id


async def main(config_dir: Path, model: str | None) -> None:
    os.environ["CLAUDE_CONFIG_DIR"] = str(config_dir)
    server = None
    extra: dict[str, str] = {}
    if not os.environ.get("ANTHROPIC_API_KEY"):
        from threadline.testing import FakeAnthropicServer

        server = FakeAnthropicServer().start()  # echoes prompts; no network, no key
        extra = {"base_url": server.base_url, "api_key": "sk-ant-demo"}
        print(f"(no ANTHROPIC_API_KEY: using a local fake model at {server.base_url})")
    scratch = tempfile.TemporaryDirectory(prefix="threadline-demo-")
    project = Path(scratch.name) / "project"
    elsewhere = Path(scratch.name) / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    home = os.getcwd()
    try:
        print(f"\n1. A new session in {project}")
        sid = await turn("Help me design a REST API for a todo app",
                         AgentOptions(cwd=str(project), model=model, **extra))  # type: ignore[arg-type]

        print(f"\n2. Resume it by id from another directory ({elsewhere.name})")
        os.chdir(elsewhere)
        await turn("Add authentication to it", AgentOptions(resume=sid, model=model, **extra))  # type: ignore[arg-type]

        print("\n3. Fork it after the first reply, rename it, list sessions")
        first_reply = get_session_messages(sid)[1].uuid
        fork = fork_session(sid, up_to_message_id=first_reply)
        rename_session(fork.session_id, "GraphQL instead")
        await turn("Redesign it as a GraphQL API", AgentOptions(resume=fork.session_id, model=model, **extra))  # type: ignore[arg-type]
        for info in list_sessions():
            print(f"  {info.session_id}  {len(get_session_messages(info.session_id)):2d} messages  {info.summary!r}")
        print(f"\nTranscripts (Claude Code format) are under {config_dir / 'projects'}")
    finally:
        os.chdir(home)
        scratch.cleanup()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-dir", type=Path, default=None)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    if args.config_dir is not None:
        anyio.run(main, args.config_dir, args.model)
    else:
        with tempfile.TemporaryDirectory(prefix="threadline-demo-config-") as config:
            anyio.run(main, Path(config), args.model)
        print("(a temporary config dir, now removed: pass --config-dir DIR to keep the sessions)")
