"""``RedisStore``: sessions shared by many hosts through Redis (redis-py asyncio).

Keys, all under ``<namespace>:`` (``name`` is ``project/session[/subpath]``):

==================  =======  ===================================================
``t:<name>``        hash     ``rev`` (bumped by every write), ``head``, ``mtime``
``c:<name>``        list     one JSONL chunk per append (the entries of the batch)
``u:<name>``        set      stored uuids (``uuid`` is an idempotency key)
``l:<project>``     hash     session id -> mtime (``list_sessions``)
``s:<project>``     hash     session id -> folded summary ``data`` (JSON)
``k:<proj>/<sid>``  set      subpaths of a session (``list_subkeys``, cascade delete)
``f:<sid>``         hash     project -> mtime (``find_session`` across projects)
``projects``        set      project keys (``list_projects``)
==================  =======  ===================================================

An append reads the state it depends on (revision, head, which uuids exist,
the summary) in one round trip, plans the write with the same code as every
other store (dedup, head, summary fold), then commits it with one Lua script
that first compares the revision: if another writer got in between, nothing
is written and the append is planned again. So writes are atomic, a session's
summary folds every append exactly once, and of N racing
``append_conditional`` calls exactly one wins. ``mtime`` comes from the Redis
server clock (``TIME``), the same for every host.

The delete script touches the keys of a session's subkeys, which it finds in
``k:``: fine on a single Redis (or Sentinel), not on Redis Cluster. asyncio
only (redis-py's async client).
"""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING, Any

import anyio
import orjson

from .._exceptions import StorageError
from ..transcript._jsonl import iter_objects
from ._db import (
    already_appended,
    check_db_key,
    map_errors,
    prepare_batch,
    require_driver,
    summary_from,
    summary_json,
    validate_namespace,
)
from ._protocol import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)
from ._summary import fold_session_summary

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStore"]

_APPEND = """
local rev = redis.call('HGET', KEYS[1], 'rev')
if (rev or '') ~= ARGV[1] then return -1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prev = tonumber(redis.call('HGET', KEYS[1], 'mtime') or '0')
if now <= prev then now = prev + 1 end
redis.call('HSET', KEYS[1], 'rev', (tonumber(rev) or 0) + 1, 'mtime', now)
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'head', ARGV[3]) end
if ARGV[2] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[2]) end
for i = 9, #ARGV, 500 do
  redis.call('SADD', KEYS[3], unpack(ARGV, i, math.min(i + 499, #ARGV)))
end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[4], ARGV[6], now)
  redis.call('HSET', KEYS[5], ARGV[6], ARGV[4])
  redis.call('HSET', KEYS[7], ARGV[7], now)
else
  redis.call('SADD', KEYS[6], ARGV[8])
end
redis.call('SADD', KEYS[8], ARGV[7])
return now
"""

_DELETE_MAIN = """
for _, sub in ipairs(redis.call('SMEMBERS', KEYS[6])) do
  local n = ARGV[3] .. '/' .. sub
  redis.call('DEL', ARGV[4] .. 't:' .. n, ARGV[4] .. 'c:' .. n, ARGV[4] .. 'u:' .. n)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[6])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('HDEL', KEYS[7], ARGV[2])
return 1
"""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStore:
    """A :class:`~threadline.SessionStore` in Redis under a key prefix; every optional method.

    Args:
        url: a Redis URL (``redis://host:6379/0``, ``rediss://`` for TLS).
        namespace: the key prefix (``<namespace>:``); lowercase letters,
            digits and ``_``.

    The client connects on first use; ``aclose()`` is idempotent. Forks
    copy: a fork rewrites every entry's ``uuid`` and ``sessionId``.
    """

    def __init__(self, url: str, *, namespace: str = "threadline") -> None:
        self._redis = require_driver("redis.asyncio", "redis", "RedisStore")
        self._exc = require_driver("redis.exceptions", "redis", "RedisStore")
        self.namespace = validate_namespace(namespace)
        self._prefix = f"{self.namespace}:"
        self._url = url
        self._client: Redis | None = None
        self._closed = False
        self._scripts: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"RedisStore(namespace={self.namespace!r})"

    async def __aenter__(self) -> RedisStore:
        client = self._ready()
        with map_errors((self._exc.RedisError,), f"{self!r}: connecting"):
            await client.ping()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool; idempotent. Later calls raise :class:`StorageError`."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _ready(self) -> Redis:
        if self._closed:
            raise StorageError(f"{self!r} is closed")
        if self._client is None:
            self._client = self._redis.Redis.from_url(self._url)
            self._scripts = {
                "append": self._client.register_script(_APPEND),
                "delete": self._client.register_script(_DELETE_MAIN),
            }
        return self._client

    def _errors(self, what: str) -> Any:
        return map_errors((self._exc.RedisError,), f"{self!r}: {what}")

    def _keys(self, key: SessionKey) -> list[str]:
        p, pk, sid = self._prefix, key["project_key"], key["session_id"]
        name = f"{pk}/{sid}" + (f"/{key['subpath']}" if "subpath" in key else "")
        return [
            f"{p}t:{name}", f"{p}c:{name}", f"{p}u:{name}", f"{p}l:{pk}", f"{p}s:{pk}",
            f"{p}k:{pk}/{sid}", f"{p}f:{sid}", f"{p}projects",
        ]  # fmt: skip

    # -- appends -----------------------------------------------------------

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        check_db_key(key)
        await self._append(key, list(entries), None, check=False)

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        """Append only if the head is still ``expected_head`` (compare-and-set on the revision)."""
        check_db_key(key)
        await self._append(key, list(entries), expected_head, check=True)

    async def _append(
        self,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        expected: str | None,
        *,
        check: bool,
    ) -> None:
        client, keys = self._ready(), self._keys(key)
        uuids = prepare_batch(key, entries).uuids
        main = "subpath" not in key
        for attempt in itertools.count():
            with self._errors("append"):
                async with client.pipeline(transaction=True) as pipe:
                    pipe.hmget(keys[0], ["rev", "head", "mtime"])
                    if uuids:
                        pipe.smismember(keys[2], uuids)
                    if main:
                        pipe.hget(keys[4], key["session_id"])
                    res = await pipe.execute()
            rev, head_b, mtime = res[0]
            head = head_b.decode() if head_b is not None else None
            stored = {u for u, hit in zip(uuids, res[1]) if hit} if uuids else set()
            if check and already_appended(
                key, entries, stored=stored, head=head, expected=expected
            ):
                return
            prev = (
                summary_from(key["session_id"], int(mtime or 0), orjson.loads(res[-1]))
                if main and res[-1]
                else None
            )
            plan = prepare_batch(key, entries, stored)
            if rev is not None and plan.count == 0:
                return
            summary = fold_session_summary(prev, key, plan.entries) if main else None
            args: list[Any] = [
                rev or b"", plan.chunk, plan.head or "",
                summary_json(summary) if summary is not None else b"",
                "1" if main else "0", key["session_id"], key["project_key"], key.get("subpath", ""),
                *plan.uuids,
            ]  # fmt: skip
            with self._errors("append"):
                if await self._scripts["append"](keys=keys, args=args) != -1:
                    return
            # Another writer committed between our read and our write: plan again.
            await anyio.sleep(random.uniform(0, min(0.0005 * attempt, 0.01)))

    async def get_head(self, key: SessionKey) -> str | None:
        check_db_key(key)
        with self._errors("get_head"):
            head = await self._ready().hget(self._keys(key)[0], "head")
        return None if head is None else _text(head)

    # -- reads -------------------------------------------------------------

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        check_db_key(key)
        keys = self._keys(key)
        with self._errors("load"):
            async with self._ready().pipeline(transaction=True) as pipe:
                pipe.exists(keys[0])
                pipe.lrange(keys[1], 0, -1)
                exists, chunks = await pipe.execute()
        if not exists:
            return None
        return list(iter_objects(b"".join(chunks)))  # type: ignore[arg-type]

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        with self._errors("list_sessions"):
            listed = await self._ready().hgetall(f"{self._prefix}l:{project_key}")
        return [{"session_id": _text(sid), "mtime": int(m)} for sid, m in listed.items()]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        with self._errors("list_session_summaries"):
            async with self._ready().pipeline(transaction=True) as pipe:
                pipe.hgetall(f"{self._prefix}l:{project_key}")
                pipe.hgetall(f"{self._prefix}s:{project_key}")
                listed, summaries = await pipe.execute()
        return [
            summary_from(_text(sid), int(listed[sid]), orjson.loads(data))
            for sid, data in summaries.items()
            if sid in listed
        ]

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        with self._errors("list_subkeys"):
            subs = await self._ready().smembers(
                f"{self._prefix}k:{key['project_key']}/{key['session_id']}"
            )
        return sorted(_text(s) for s in subs)

    async def list_projects(self) -> list[str]:
        """Every project key that ever held a transcript (for exporting everything)."""
        with self._errors("list_projects"):
            projects = await self._ready().smembers(f"{self._prefix}projects")
        return sorted(_text(p) for p in projects)

    async def find_session(self, session_id: str) -> SessionKey | None:
        """The key of ``session_id`` in any project (the most recently written), else ``None``."""
        with self._errors("find_session"):
            found = await self._ready().hgetall(f"{self._prefix}f:{session_id}")
        if not found:
            return None
        project = max(found.items(), key=lambda kv: int(kv[1]))[0]
        return {"project_key": _text(project), "session_id": session_id}

    async def delete(self, key: SessionKey) -> None:
        """Delete one key; a main key takes its subkeys and summary with it (atomically)."""
        check_db_key(key)
        keys = self._keys(key)
        client = self._ready()
        with self._errors("delete"):
            if "subpath" in key:
                async with client.pipeline(transaction=True) as pipe:
                    pipe.delete(*keys[:3])
                    pipe.srem(keys[5], key["subpath"])
                    await pipe.execute()
                return
            name = f"{key['project_key']}/{key['session_id']}"
            args = [key["session_id"], key["project_key"], name, self._prefix]
            await self._scripts["delete"](keys=keys, args=args)
