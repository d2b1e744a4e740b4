"""One "host" of the cross-host test: ``python -m tests.stores._host BACKEND URL NS ACTION ...``.

Runs in its own process with its own ``HOME`` and ``CLAUDE_CONFIG_DIR``; the
only thing hosts share is the database. Prints one JSON object on stdout.

- ``create PROJECT PROMPT``: a new session through ``threadline.query``.
- ``resume SESSION_ID PROMPT``: resume it by id (from this host's own cwd).
- ``read PROJECT SESSION_ID``: list the project's sessions and read one.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import orjson

from threadline import AgentOptions, query
from threadline.sessions import get_session_messages_from_store, list_sessions_from_store
from threadline.sessions.postgres import PostgresStore
from threadline.sessions.redis import RedisStore


def _store(backend: str, url: str, ns: str) -> Any:
    return PostgresStore(url, namespace=ns) if backend == "postgres" else RedisStore(url, namespace=ns)


async def _ask(store: Any, prompt: str, **kw: Any) -> dict[str, Any]:
    texts: list[str] = []
    result: Any = None
    async for msg in query(prompt=prompt, options=AgentOptions(session_store=store, **kw)):
        for block in getattr(msg, "content", None) or []:
            if isinstance(getattr(block, "text", None), str):
                texts.append(block.text)
        result = msg
    return {"session_id": result.session_id, "is_error": result.is_error, "texts": texts}


async def main(backend: str, url: str, ns: str, action: str, *args: str) -> None:
    async with _store(backend, url, ns) as store:
        if action == "create":
            out = await _ask(store, args[1], cwd=args[0])
        elif action == "resume":
            out = await _ask(store, args[1], resume=args[0])
        else:
            listed = await list_sessions_from_store(store, directory=args[0])
            messages = await get_session_messages_from_store(store, args[1], directory=args[0])
            out = {
                "listed": [s.session_id for s in listed],
                "summaries": [s.summary for s in listed],
                "messages": [[m.type, m.message] for m in messages],
            }
    sys.stdout.write(orjson.dumps(out, default=str).decode())


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:])
