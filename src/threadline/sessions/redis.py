"""``RedisStore``: sessions shared by many hosts through Redis or Redis Cluster (redis-py asyncio).

Each session's keys share one hash tag, ``<ns>:{<project>/<session>}``, so they live in
one cluster slot and one Lua script can change them atomically (``:k`` only for the
main key; ``:<subpath>`` appended for subagent transcripts):

================  =====  ===============================================================
``…:t[:sub]``     hash   ``head``, ``mtime`` (server clock), ``entries`` (count),
                         ``rc``/``ra`` (where a load from the last compaction starts),
                         and the summary folded on append, one ``s.<field>`` per field
``…:c[:sub]``     list   one JSONL chunk per append (the entries of the batch)
``…:n[:sub]``     list   entry count of each chunk (tail loads)
``…:u[:sub]``     hash   uuid -> index of its chunk (idempotency, loads after a uuid)
``…:k``           set    subpaths of the session (``list_subkeys``, cascade delete)
================  =====  ===============================================================

Listing indexes live in other slots: ``<ns>:sessions:<project>`` (session ids),
``<ns>:where:<session>`` (projects, for ``find_session``) and ``<ns>:projects``. A
session is indexed *before* its first append (once per process), and listing skips
indexed sessions that hold nothing, so a crash between the two steps hides nothing.

**One script call per append**: the script drops uuids already stored, checks the
expected head, writes chunk, counts and uuids, merges the batch's summary delta
(:func:`~threadline.sessions._db.summary_delta`) field by field and stamps ``mtime`` from
the Redis server clock (``TIME``, the same for every host). So appends are atomic, a
session's summary folds every append exactly once, and of N racing
``append_conditional`` calls exactly one wins. Loads are one script call too.

**Layout 2** (``<ns>:layout``). Keys written by threadline before Redis Cluster support
(``<ns>:t:<project>/<session>``, ...) are moved to this layout the first time a store
opens the namespace (under a lock, every chunk re-appended in order; ``mtime`` becomes
the time of the move).

**Cluster**: detected (``cluster=None``) or forced; with ``cluster=True`` the URL names
any node. **Faults**: a connection that breaks is replaced and the operation retried
(twice, with a short backoff) when it is idempotent: reads, and appends whose entries
all have a uuid. asyncio only (redis-py's async client).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from ..transcript._jsonl import dumps_value, iter_objects, loads_value
from ._db import (
    Batch,
    DatabaseStore,
    check_db_key,
    check_expected_head,
    check_main_key,
    conflict_error,
    findable_session_id,
    findable_uuid,
    from_uuid,
    map_errors,
    prepare_batch,
    require_driver,
    summary_from,
    validate_namespace,
)
from ._keys import validate_project_key
from ._protocol import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStore"]

T = TypeVar("T")

# KEYS: t c n u k. ARGV: see RedisStore._append_args. Returns {status, head, stored
# [, created]}: 0 written, 1 nothing to write (every uuid stored), 2 conflict, 3 some
# uuids stored; created: 1 when this append made a new main session.
_APPEND = """
local t, c, n, u, k = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local count = tonumber(ARGV[2])
local nfirst, nlast, nunset = tonumber(ARGV[13]), tonumber(ARGV[14]), tonumber(ARGV[15])
local nuuids = tonumber(ARGV[18])
local base = 19 + 2 * (nfirst + nlast) + nunset
local exists = redis.call('EXISTS', t) == 1
local head = redis.call('HGET', t, 'head')
local stored = {}
if exists and nuuids > 0 then
  for i = base, base + nuuids - 1, 500 do
    local hits = redis.call('HMGET', u, unpack(ARGV, i, math.min(i + 499, base + nuuids - 1)))
    for m = 1, #hits do
      if hits[m] then stored[#stored + 1] = ARGV[i + m - 1] end
    end
  end
end
local retry = nuuids > 0 and #stored == nuuids and ARGV[4] == '0'
if ARGV[5] == '1' then
  local expected = ARGV[7]
  if ARGV[6] == '1' then expected = false end
  if head ~= expected then
    if retry then return {1, head, stored} end
    return {2, head}
  end
end
if #stored > 0 then
  if retry then return {1, head, stored} end
  return {3, head, stored}
end
if exists and count == 0 then return {1, head} end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local prev = tonumber(redis.call('HGET', t, 'mtime') or '0')
if now <= prev then now = prev + 1 end
local rc, ra = false, false
if ARGV[10] == '1' and ARGV[12] ~= '' then
  rc = redis.call('HGET', u, ARGV[12])
  if rc then ra = ARGV[12] end
end
if count > 0 then
  local idx = redis.call('RPUSH', c, ARGV[1]) - 1
  redis.call('RPUSH', n, count)
  for i = base, base + nuuids - 1, 250 do
    local kv = {}
    for m = i, math.min(i + 249, base + nuuids - 1) do
      kv[#kv + 1] = ARGV[m]
      kv[#kv + 1] = idx
    end
    redis.call("HSET", u, unpack(kv))
  end
  if ARGV[10] == '1' and not rc then
    rc = idx
    ra = ARGV[11]
  end
end
redis.call('HINCRBY', t, 'entries', count)
redis.call('HSET', t, 'mtime', now)
if ARGV[3] ~= '' then
  redis.call('HSET', t, 'head', ARGV[3])
  head = ARGV[3]
end
if rc then
  redis.call('HSET', t, 'rc', rc)
  if ra and ra ~= '' then redis.call('HSET', t, 'ra', ra) else redis.call('HDEL', t, 'ra') end
end
if ARGV[8] ~= '1' then
  redis.call('SADD', k, ARGV[9])
  return {0, head}
end
local created = 0
if not exists then created = 1 end
local p = 19
for i = 1, nfirst do
  redis.call('HSETNX', t, 's.' .. ARGV[p], ARGV[p + 1])
  p = p + 2
end
if redis.call('HEXISTS', t, 's.first_prompt_locked') == 0 then
  if ARGV[16] ~= '' then redis.call('HSETNX', t, 's.command_fallback', ARGV[16]) end
  if ARGV[17] ~= '' then
    redis.call('HSET', t, 's.first_prompt', ARGV[17], 's.first_prompt_locked', 'true')
  end
end
for i = 1, nlast do
  redis.call('HSET', t, 's.' .. ARGV[p], ARGV[p + 1])
  p = p + 2
end
for i = 1, nunset do
  redis.call('HDEL', t, 's.' .. ARGV[p])
  p = p + 1
end
return {0, head, {}, created}
"""

# KEYS: t c n u. ARGV: mode ('all', 'compacted', 'after', 'tail'), its argument.
# Returns false (no such key / uuid) or {uuid to start at, chunks}.
_READ = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local mode = ARGV[1]
if mode == 'all' then return {false, redis.call('LRANGE', KEYS[2], 0, -1)} end
if mode == 'compacted' then
  local at = redis.call('HMGET', KEYS[1], 'rc', 'ra')
  return {at[2], redis.call('LRANGE', KEYS[2], tonumber(at[1] or '0'), -1)}
end
if mode == 'after' then
  local idx = redis.call('HGET', KEYS[4], ARGV[2])
  if not idx then return false end
  return {false, redis.call('LRANGE', KEYS[2], tonumber(idx), -1)}
end
local want = tonumber(ARGV[2])
local i = redis.call('LLEN', KEYS[3])
local total = 0
while i > 0 and total < want do
  local counts = redis.call('LRANGE', KEYS[3], math.max(0, i - 128), i - 1)
  for j = #counts, 1, -1 do
    total = total + tonumber(counts[j])
    i = i - 1
    if total >= want then break end
  end
end
return {false, redis.call('LRANGE', KEYS[2], i, -1)}
"""

# One server only (a cluster refuses keys of other slots): every listed session's mtime
# (or whole hash) in one call. KEYS: the index set. ARGV: the key prefix of the project's
# sessions, the suffix of their hash, 'mtime' or 'all'. Returns {sid, value or false, ...}.
_GATHER = """
local out = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local name = ARGV[1] .. sid .. ARGV[2]
  local value
  if ARGV[3] == 'mtime' then
    value = redis.call('HGET', name, 'mtime')
  else
    local h = redis.call('HGETALL', name)
    value = false
    if #h > 0 then
      value = {}
      for i = 1, #h, 2 do
        local f = h[i]
        if f == 'mtime' or string.sub(f, 1, 2) == 's.' then
          value[#value + 1] = f
          value[#value + 1] = h[i + 1]
        end
      end
    end
  end
  out[#out + 1] = sid
  out[#out + 1] = value
end
return out
"""

# KEYS: t c n u k (main key). ARGV: the session's key prefix. Deletes every subkey too.
_DELETE_MAIN = """
for _, sub in ipairs(redis.call('SMEMBERS', KEYS[5])) do
  local p = ARGV[1]
  redis.call('DEL', p .. ':t:' .. sub, p .. ':c:' .. sub, p .. ':n:' .. sub, p .. ':u:' .. sub)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 1
"""

# KEYS: t c n u (subkey), k. ARGV: the subpath.
_DELETE_SUB = """
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('SREM', KEYS[5], ARGV[1])
return 1
"""

_INDEX_CACHE = 100_000


def _braced(project_key: str, session_id: str) -> bool:
    return any(c in project_key or c in session_id for c in "{}")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStore(DatabaseStore):
    """A :class:`~threadline.SessionStore` in Redis (or Redis Cluster) under a key prefix.

    Args:
        url: a Redis URL (``redis://host:6379/0``, ``rediss://`` for TLS); for a
            cluster, any node's.
        namespace: the key prefix (``<namespace>:``); lowercase letters, digits, ``_``.
        cluster: ``True`` for Redis Cluster, ``False`` for one server (or Sentinel);
            ``None`` asks the server (``INFO cluster``) on first use.
        retries: how many times an idempotent operation is retried after its
            connection broke.

    The client connects on first use; ``aclose()`` is idempotent. Every optional
    method, and a :class:`~threadline.sessions.PartialLoadStore`. Forks copy: a fork
    rewrites every entry's ``uuid`` and ``sessionId``.
    """

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "threadline",
        cluster: bool | None = None,
        retries: int = 2,
    ) -> None:
        self._redis = require_driver("redis.asyncio", "redis", "RedisStore")
        self._exc = require_driver("redis.exceptions", "redis", "RedisStore")
        self.namespace = validate_namespace(namespace)
        self._prefix = f"{self.namespace}:"
        self._url = url
        self._cluster = cluster
        self._retries = max(0, retries)
        self._client: Any = None
        self._open_lock = anyio.Lock()
        self._scripts: dict[str, Any] = {}
        self._indexed: set[str] = set()
        self.bytes_read = 0
        """Transcript bytes fetched by loads so far (for tests and benchmarks)."""
        self._errors: tuple[type[BaseException], ...] = (
            self._exc.RedisError,
            self._exc.RedisClusterException,
        )

    def _describe(self) -> str:
        return f"namespace={self.namespace!r}"

    async def _open(self) -> None:
        await self._call("connecting", lambda c: c.ping(), idempotent=True)

    async def _release(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- plumbing ----------------------------------------------------------

    @property
    def cluster(self) -> bool | None:
        """Whether the store talks to a Redis Cluster (``None`` until first use)."""
        return self._cluster

    async def _ready(self) -> Redis:
        self._check_open()
        if self._client is not None:
            return self._client  # type: ignore[no-any-return]
        async with self._open_lock:
            if self._client is None:
                with map_errors(self._errors, f"{self!r}: connecting"):
                    self._client = await self._connect()
            return self._client  # type: ignore[no-any-return]

    async def _connect(self) -> Any:
        retry = require_driver("redis.asyncio.retry", "redis", "RedisStore").Retry
        backoff = require_driver("redis.backoff", "redis", "RedisStore").NoBackoff
        if self._cluster is None:
            probe = self._redis.Redis.from_url(self._url, retry=retry(backoff(), 0))
            try:
                info = await probe.info("cluster")
            finally:
                await probe.aclose()
            self._cluster = bool(info.get("cluster_enabled"))
        if self._cluster:
            client = self._redis.RedisCluster.from_url(self._url)
        else:
            # Retries are ours (only what is idempotent), not the driver's.
            client = self._redis.Redis.from_url(self._url, retry=retry(backoff(), 0))
        self._scripts = {
            name: client.register_script(src)
            for name, src in (
                ("append", _APPEND),
                ("read", _READ),
                ("delete", _DELETE_MAIN),
                ("delete_sub", _DELETE_SUB),
                ("gather", _GATHER),
            )
        }
        try:
            await self._check_layout(client)
        except BaseException:
            await client.aclose()
            raise
        return client

    async def _check_layout(self, client: Any) -> None:
        """Mark a new namespace as layout 2, or move a layout-1 one (single server only)."""
        marker, legacy = f"{self._prefix}layout", f"{self._prefix}l:"
        for _ in range(600):
            if await client.get(marker) is not None:
                return
            if not await client.exists(f"{self._prefix}projects"):
                await client.set(marker, "2", nx=True)
                return
            lock = f"{self._prefix}migrating"
            if await client.set(lock, "1", nx=True, ex=600):
                try:
                    await _move_v1(self, client, legacy)
                    await client.set(marker, "2")
                finally:
                    await client.delete(lock)
                return
            await anyio.sleep(0.5)  # another process is moving the namespace
        raise TimeoutError(f"{self!r}: the move of a layout-1 namespace did not finish")

    async def _call(
        self, what: str, op: Callable[[Any], Awaitable[T]], *, idempotent: bool, client: Any = None
    ) -> T:
        """Run ``op(client)``; retry an idempotent one whose connection broke."""
        retryable = (self._exc.ConnectionError, self._exc.TimeoutError)
        attempt = 0
        given = client
        while True:
            client = given if given is not None else await self._ready()
            with map_errors(self._errors, f"{self!r}: {what}"):
                try:
                    return await op(client)
                except retryable:
                    if not idempotent or attempt >= self._retries:
                        raise
            attempt += 1
            await anyio.sleep(0.02 * 2**attempt)

    def _tag(self, key: SessionKey | SessionListSubkeysKey) -> str:
        """``<ns>:{project/session}``: the hash tag every key of the session shares."""
        inner = f"{key['project_key']}/{key['session_id']}"
        if "{" in inner or "}" in inner:
            inner = "h:" + hashlib.sha256(inner.encode()).hexdigest()[:32]
        return f"{self._prefix}{{{inner}}}"

    def _keys(self, key: SessionKey) -> list[str]:
        tag = self._tag(key)
        sub = f":{key['subpath']}" if "subpath" in key else ""
        return [f"{tag}:t{sub}", f"{tag}:c{sub}", f"{tag}:n{sub}", f"{tag}:u{sub}", f"{tag}:k"]

    async def _index(self, key: SessionKey, client: Any = None) -> None:
        """Make a main session listable (before its first append; once per process)."""
        name = self._tag(key)
        if name in self._indexed:
            return
        pk, sid = key["project_key"], key["session_id"]

        async def op(client: Any) -> None:
            async with client.pipeline(transaction=False) as pipe:
                pipe.sadd(f"{self._prefix}sessions:{pk}", sid)
                pipe.sadd(f"{self._prefix}where:{sid}", pk)
                pipe.sadd(f"{self._prefix}projects", pk)
                await pipe.execute()

        await self._call("indexing", op, idempotent=True, client=client)
        if len(self._indexed) >= _INDEX_CACHE:
            self._indexed.clear()
        self._indexed.add(name)

    # -- appends -----------------------------------------------------------

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        check_db_key(key)
        await self._append(key, list(entries), None, check=False)

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        """Append only if the head is still ``expected_head`` (checked inside the script)."""
        check_db_key(key)
        check_expected_head(expected_head)
        await self._append(key, list(entries), expected_head, check=True)

    async def _append(
        self,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        expected: str | None,
        *,
        check: bool,
        client: Any = None,
    ) -> None:
        cached = self._tag(key) in self._indexed
        if "subpath" not in key:
            await self._index(key, client)
        keys = self._keys(key)
        batch = prepare_batch(key, entries)
        idempotent = not batch.plain
        while True:
            args = _append_args(key, batch, expected, check)

            async def op(client: Any, args: list[Any] = args) -> Any:
                return await self._scripts["append"](keys=keys, args=args, client=client)

            result = await self._call("append", op, idempotent=idempotent, client=client)
            status = int(result[0])
            if status == 2:
                raise conflict_error(key, expected, None if result[1] is None else _text(result[1]))
            if status == 0 and cached and len(result) > 3 and int(result[3]):
                # This append made the session anew, which this process had indexed before:
                # another host deleted it since. Index it again.
                self._indexed.discard(self._tag(key))
                await self._index(key, client)
            if status != 3:
                return
            # Some uuids were stored meanwhile (a retry racing new entries): plan again.
            batch = prepare_batch(key, entries, {_text(u) for u in result[2]})

    async def get_head(self, key: SessionKey) -> str | None:
        check_db_key(key)
        head = await self._call(
            "get_head", lambda c: c.hget(self._keys(key)[0], "head"), idempotent=True
        )
        return None if head is None else _text(head)

    # -- reads -------------------------------------------------------------

    async def _read(
        self, key: SessionKey, mode: str, arg: Any = ""
    ) -> tuple[str | None, list[SessionStoreEntry]] | None:
        check_db_key(key)
        keys = self._keys(key)[:4]

        async def op(client: Any) -> Any:
            return await self._scripts["read"](keys=keys, args=[mode, arg])

        result = await self._call(mode, op, idempotent=True)
        if result is None:
            return None
        chunks: list[bytes] = result[1]
        self.bytes_read += sum(map(len, chunks))
        entries: list[SessionStoreEntry] = list(iter_objects(b"".join(chunks)))  # type: ignore[arg-type]
        return (None if result[0] is None else _text(result[0])), entries

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        read = await self._read(key, "all")
        return None if read is None else read[1]

    async def load_since_compaction(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        """The entries from the last compaction's preserved segment on (see the protocol)."""
        read = await self._read(key, "compacted")
        return None if read is None else from_uuid(read[1], read[0])

    async def load_after(self, key: SessionKey, uuid: str) -> list[SessionStoreEntry] | None:
        """The entries after the one whose uuid is ``uuid`` (``None``: key or uuid unknown)."""
        if not findable_uuid(uuid):
            check_db_key(key)
            self._check_open()
            return None
        read = await self._read(key, "after", uuid)
        return None if read is None else from_uuid(read[1], uuid, after=True)

    async def load_tail(self, key: SessionKey, count: int) -> list[SessionStoreEntry] | None:
        """The last ``count`` entries."""
        read = await self._read(key, "tail", max(0, count))
        if read is None:
            return None
        entries = read[1]
        return entries[max(0, len(entries) - count) :] if count > 0 else []

    async def _hashes(self, keys: list[str], fields: list[str] | None) -> list[Any]:
        """One HMGET (or HGETALL) per key, pipelined (across nodes on a cluster)."""

        async def op(client: Any) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                for name in keys:
                    if fields is None:
                        pipe.hgetall(name)
                    else:
                        pipe.hmget(name, fields)
                return list(await pipe.execute())

        return await self._call("listing", op, idempotent=True) if keys else []

    async def _members(self, name: str) -> list[str]:
        members = await self._call("listing", lambda c: c.smembers(name), idempotent=True)
        return sorted(_text(m) for m in members)

    def _main_t(self, project_key: str, session_id: str) -> str:
        return self._keys({"project_key": project_key, "session_id": session_id})[0]

    async def _gather(self, project_key: str, what: str) -> list[tuple[str, Any]]:
        """(session id, its ``mtime`` or its hash) for each listed session that exists: one
        script call on one server, pipelined reads across a cluster's nodes."""
        await self._ready()
        index = f"{self._prefix}sessions:{project_key}"
        if self._cluster:
            pending = await self._members(index)
            found: list[tuple[str, Any]] = []
        else:
            prefix = f"{self._prefix}{{{project_key}/"

            async def op(client: Any) -> Any:
                return await self._scripts["gather"](keys=[index], args=[prefix, "}:t", what])

            flat = await self._call("listing", op, idempotent=True)
            pairs = [(_text(flat[i]), flat[i + 1]) for i in range(0, len(flat), 2)]
            found = [(sid, v) for sid, v in pairs if v]
            # A key with '{' or '}' has a hashed tag (see _tag): read those one by one.
            pending = [sid for sid, v in pairs if not v and _braced(project_key, sid)]
        fields = ["mtime"] if what == "mtime" else None
        rows = await self._hashes([self._main_t(project_key, s) for s in pending], fields)
        found.extend(
            (sid, row[0] if fields else row)
            for sid, row in zip(pending, rows)
            if (row[0] if fields else row)
        )
        return found

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        validate_project_key(project_key)
        return [
            {"session_id": sid, "mtime": int(m)} for sid, m in await self._gather(project_key, "mtime")
        ]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        validate_project_key(project_key)
        out: list[SessionSummaryEntry] = []
        for sid, row in await self._gather(project_key, "all"):
            fields = dict(zip(row[::2], row[1::2])) if isinstance(row, list) else row
            mtime = fields.get(b"mtime")
            if mtime is None:
                continue
            data = {
                _text(f)[2:]: loads_value(v) for f, v in fields.items() if _text(f).startswith("s.")
            }
            out.append(summary_from(sid, int(mtime), data))
        return out

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        return await self._members(f"{self._tag(check_main_key(key))}:k")

    async def list_projects(self) -> list[str]:
        """Every project key that ever held a transcript (for exporting everything)."""
        return await self._members(f"{self._prefix}projects")

    async def find_session(self, session_id: str) -> SessionKey | None:
        """The key of ``session_id`` in any project (the most recently written), else ``None``."""
        if not findable_session_id(session_id):
            self._check_open()
            return None
        projects = await self._members(f"{self._prefix}where:{session_id}")
        rows = await self._hashes([self._main_t(p, session_id) for p in projects], ["mtime"])
        found = [(int(row[0]), p) for p, row in zip(projects, rows) if row[0] is not None]
        if not found:
            return None
        return {"project_key": max(found)[1], "session_id": session_id}

    async def delete(self, key: SessionKey) -> None:
        """Delete one key; a main key takes its subkeys and summary with it (atomically)."""
        check_db_key(key)
        keys = self._keys(key)
        if "subpath" in key:
            sub = key["subpath"]

            async def delete_sub(client: Any) -> Any:
                return await self._scripts["delete_sub"](keys=keys, args=[sub])

            await self._call("delete", delete_sub, idempotent=True)
            return
        pk, sid = key["project_key"], key["session_id"]

        async def delete_main(client: Any) -> None:
            await self._scripts["delete"](keys=keys, args=[self._tag(key)])
            async with client.pipeline(transaction=False) as pipe:
                pipe.srem(f"{self._prefix}sessions:{pk}", sid)
                pipe.srem(f"{self._prefix}where:{sid}", pk)
                await pipe.execute()

        await self._call("delete", delete_main, idempotent=True)
        self._indexed.discard(self._tag(key))


async def _move_v1(store: RedisStore, client: Any, legacy: str) -> None:
    """Re-append every layout-1 transcript (chunk by chunk) in layout 2, then drop it."""
    p = store._prefix
    for raw in await client.smembers(f"{p}projects"):
        pk = _text(raw)
        for sid in map(_text, await client.hkeys(f"{legacy}{pk}")):
            name = f"{pk}/{sid}"
            subs = sorted(map(_text, await client.smembers(f"{p}k:{name}")))
            for sub in [None, *subs]:
                full = name if sub is None else f"{name}/{sub}"
                key: SessionKey = {"project_key": pk, "session_id": sid}
                if sub is not None:
                    key["subpath"] = sub
                for chunk in await client.lrange(f"{p}c:{full}", 0, -1):
                    entries: list[SessionStoreEntry] = list(iter_objects(chunk))  # type: ignore[arg-type]
                    await store._append(key, entries, None, check=False, client=client)
                await client.delete(f"{p}t:{full}", f"{p}c:{full}", f"{p}u:{full}")
            await client.delete(f"{p}k:{name}", f"{p}f:{sid}")
        await client.delete(f"{legacy}{pk}", f"{p}s:{pk}")


def _append_args(
    key: SessionKey, batch: Batch, expected: str | None, check: bool
) -> list[Any]:
    """The script's ARGV: the batch, the check, the compaction start, the summary delta."""
    start = batch.start_index()
    in_batch = start is not None and start != batch.boundary
    resume_at = "" if start is None else batch.entries[start].get("uuid")
    delta = batch.delta or {"first": {}, "last": {}, "unset": [], "prompt": {}}
    first = [x for k, v in delta["first"].items() for x in (k, dumps_value(v))]
    last = [x for k, v in delta["last"].items() for x in (k, dumps_value(v))]
    prompt = delta["prompt"]
    return [
        batch.chunk,
        batch.count,
        batch.head or "",
        "1" if batch.plain else "0",
        "1" if check else "0",
        "1" if expected is None else "0",
        expected or "",
        "0" if "subpath" in key else "1",
        key.get("subpath", ""),
        "1" if batch.boundary is not None else "0",
        resume_at if isinstance(resume_at, str) else "",
        "" if in_batch or batch.preserved_head is None else batch.preserved_head,
        len(first) // 2,
        len(last) // 2,
        len(delta["unset"]),
        dumps_value(prompt["command_fallback"]) if "command_fallback" in prompt else "",
        dumps_value(prompt["first_prompt"]) if "first_prompt" in prompt else "",
        len(batch.uuids),
        *first,
        *last,
        *delta["unset"],
        *batch.uuids,
    ]
