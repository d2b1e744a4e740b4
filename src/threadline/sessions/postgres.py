"""``PostgresStore``: sessions shared by many hosts through PostgreSQL (psycopg 3, async pool).

Everything lives in one schema, the *namespace* (created if missing), so one
database can serve several applications or tests. Tables (see ``MIGRATIONS``;
applied forward-only and recorded in ``<namespace>._migrations`` under an advisory
lock, so many processes can start at once):

- ``transcripts``: one row per key with its head, ``mtime`` (database clock, epoch
  ms, strictly increasing per key), its entry count, where a load from its last
  compaction starts and, for main transcripts, the summary folded on append, so
  listing reads no transcript.
- ``chunks``: one row per append, the batch as JSONL bytes, with the index of its
  first entry; a long session loads from a handful of rows (no foreign keys: a delete
  goes through ``tl_delete``).
- ``uuids``: ``uuid`` as an idempotency key (a retried batch is not duplicated),
  and the chunk that holds each entry (partial loads).

**One round trip per append.** One prepared statement. To a key this store wrote last
(``_known``: the row id, ``mtime`` and summary its write left), ``_LEAN_APPEND`` updates
the row by id only if its ``mtime`` is unchanged (nobody wrote since), with the summary
merged in Python and sent only when it changes. Otherwise ``_FAST_APPEND``: in the common
case (the key exists, no compaction in the batch, the head is as expected) it updates the
key's row (taking its row lock), merges the batch's summary delta into the stored summary
(:func:`~threadline.sessions._db.merge_summary`, in SQL) and writes the chunk and its uuids
itself; otherwise the same statement calls ``<namespace>.tl_append(...)`` (a PL/pgSQL
function, migrations ``m002_one_round_trip`` to ``m004_fast_append``), which creates the
key, drops uuids already stored, checks ``expected_head`` and places compactions. All in
the one statement's transaction, so appends to one session serialize across hosts and of N
racing ``append_conditional`` calls exactly one wins. A uuid already stored fails the
statement on the uuids key (nothing written) and the append runs ``tl_append`` directly; a
batch that overlaps stored uuids only in part is planned again without them. The pool's
connections use generic plans (``plan_cache_mode = force_generic_plan``): every statement
here is an index lookup by key, and planning each call again cost more than running it.

**Group commit.** Appends to distinct keys that arrive while other appends are in flight
are written together, one statement and one transaction per group (``_GROUP_APPEND``, see
:mod:`~threadline.sessions._groupcommit`); what a group cannot write goes on its own.

**Faults.** Connections are checked out healthy (a pooled connection the server
closed, idle timeout or ``pg_terminate_backend``, is noticed without a round trip
and replaced), and an operation whose connection breaks is retried on a fresh one
(at most ``retries`` times, with a short backoff) when it is idempotent: reads, and
appends whose every entry has a uuid, since a retried append that had landed (an
acknowledgement lost with the connection) finds its uuids stored and writes
nothing. Otherwise the error surfaces as :class:`~threadline.StorageError`, the
driver error as its ``__cause__``; a server that cannot be reached at all fails at
once, naming the cause. asyncio only (psycopg's async API).
"""

from __future__ import annotations

import select
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import orjson

from .._exceptions import StorageError
from ..transcript._jsonl import dumps_value, iter_objects, loads_value
from . import _pgarrays as pg
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
    with_delta,
)
from ._groupcommit import GroupCommit, Member, settle
from ._keys import validate_project_key
from ._migrations import Migration
from ._pgarrays import Packed
from ._protocol import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStoreEntry,
    SessionStoreListEntry,
    SessionSummaryEntry,
)
from ._summary import fold_session_summary

if TYPE_CHECKING:
    from psycopg import AsyncConnection, AsyncCursor
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresStore"]

T = TypeVar("T")

# Merge a summary delta (see _db.summary_delta, in the form of _pg_delta) into a stored
# summary. Stored as jsonb whose values are the JSON *texts* of the summary's values: a
# first prompt may hold "\u0000", which jsonb refuses as a string but keeps inside one.
_MERGE_SUMMARY = """
CREATE FUNCTION {s}.tl_merge_summary(prev jsonb, d jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT ((CASE WHEN p ? 'first_prompt_locked' THEN (d->'first') || p
           ELSE (d->'first') || (d->'fallback') || p || (d->'prompt') END)
          || (d->'last')) - ARRAY(SELECT jsonb_array_elements_text(d->'unset'))
  FROM (SELECT coalesce(prev, '{{}}'::jsonb) AS p) x
$$"""

# Summaries stored before m002 (JSON bytes) become field -> JSON text; one that jsonb
# cannot take is left out (listing then derives it from the transcript).
_CONVERT_SUMMARIES = """
DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT id, summary FROM {s}.transcripts WHERE summary IS NOT NULL LOOP
    BEGIN
      UPDATE {s}.transcripts SET fields = (
        SELECT coalesce(jsonb_object_agg(key, value::text), '{{}}'::jsonb)
        FROM json_each(convert_from(r.summary, 'UTF8')::json)) WHERE id = r.id;
    EXCEPTION WHEN others THEN NULL;
    END;
  END LOOP;
END
$$"""

# One append. Returns (status, head, stored uuids): 0 written, 1 nothing to write (every
# uuid already stored: a retry), 2 conflict (head moved), 3 some uuids already stored
# (the caller plans again without them).
_APPEND_FUNCTION = """
CREATE FUNCTION {s}.tl_append(
  p_project text, p_session text, p_subpath text, p_chunk bytea, p_count integer,
  p_uuids text[], p_head text, p_plain boolean, p_delta jsonb, p_check boolean,
  p_expected text, p_boundary boolean, p_resume_at text, p_preserved text)
RETURNS TABLE (status integer, head text, stored text[])
LANGUAGE plpgsql AS $$
DECLARE
  t record;
  v_stored text[];
  v_chunk bigint;
  v_rc bigint;
  v_rat text;
  v_found boolean := false;
  v_pc bigint;
BEGIN
  SELECT x.id, x.head, x.mtime, x.entries, x.resume_chunk, x.resume_at INTO t
    FROM {s}.transcripts x
    WHERE x.project_key = p_project AND x.session_id = p_session AND x.subpath = p_subpath
    FOR UPDATE;
  IF NOT FOUND THEN
    IF p_check AND p_expected IS NOT NULL THEN
      RETURN QUERY SELECT 2, NULL::text, NULL::text[];
      RETURN;
    END IF;
    INSERT INTO {s}.transcripts (project_key, session_id, subpath, mtime)
      VALUES (p_project, p_session, p_subpath, 0) ON CONFLICT DO NOTHING;
    SELECT x.id, x.head, x.mtime, x.entries, x.resume_chunk, x.resume_at INTO t
      FROM {s}.transcripts x
      WHERE x.project_key = p_project AND x.session_id = p_session AND x.subpath = p_subpath
      FOR UPDATE;
  END IF;
  IF t.mtime > 0 AND cardinality(p_uuids) > 0 THEN
    SELECT array_agg(u.uuid) INTO v_stored FROM {s}.uuids u
      WHERE u.transcript_id = t.id AND u.uuid = ANY (p_uuids);
  END IF;
  IF p_check AND t.head IS DISTINCT FROM p_expected THEN
    IF cardinality(v_stored) = cardinality(p_uuids) AND NOT p_plain THEN
      RETURN QUERY SELECT 1, t.head, v_stored;
    ELSE
      RETURN QUERY SELECT 2, t.head, NULL::text[];
    END IF;
    RETURN;
  END IF;
  IF cardinality(v_stored) > 0 THEN
    RETURN QUERY SELECT CASE WHEN cardinality(v_stored) = cardinality(p_uuids)
      AND NOT p_plain THEN 1 ELSE 3 END, t.head, v_stored;
    RETURN;
  END IF;
  IF t.mtime > 0 AND p_count = 0 THEN
    RETURN QUERY SELECT 1, t.head, NULL::text[];
    RETURN;
  END IF;
  v_rc := t.resume_chunk;
  v_rat := t.resume_at;
  IF p_boundary AND p_preserved IS NOT NULL THEN
    -- the compaction keeps entries stored before this batch: start where they are
    SELECT u.chunk_id INTO v_pc FROM {s}.uuids u
      WHERE u.transcript_id = t.id AND u.uuid = p_preserved;
    v_found := FOUND;
    IF v_found THEN
      -- chunk_id NULL: stored before migration m002, position unknown: load everything
      v_rat := CASE WHEN v_pc IS NULL THEN NULL ELSE p_preserved END;
      v_rc := coalesce(v_pc, 0);
    END IF;
  END IF;
  IF p_count > 0 THEN
    INSERT INTO {s}.chunks (transcript_id, data, seq, n)
      VALUES (t.id, p_chunk, t.entries, p_count) RETURNING id INTO v_chunk;
    INSERT INTO {s}.uuids (transcript_id, uuid, chunk_id)
      SELECT t.id, u, v_chunk FROM unnest(p_uuids) AS u;
  END IF;
  IF p_boundary AND NOT v_found THEN
    v_rc := v_chunk;
    v_rat := p_resume_at;
  END IF;
  UPDATE {s}.transcripts x SET
    head = coalesce(p_head, x.head),
    mtime = greatest((extract(epoch FROM clock_timestamp()) * 1000)::bigint, x.mtime + 1),
    entries = x.entries + p_count,
    resume_chunk = v_rc,
    resume_at = v_rat,
    fields = CASE WHEN p_delta IS NULL THEN x.fields ELSE {s}.tl_merge_summary(x.fields, p_delta)
      END
    WHERE x.id = t.id;
  RETURN QUERY SELECT 0, coalesce(p_head, t.head), NULL::text[];
END
$$"""

# m003: leaner writes. The merge as one expression (inlined into tl_append's UPDATE); no
# foreign keys (their row locks and triggers cost more than the append itself: deletes
# remove a session's rows in tl_delete instead); mtime out of the session-id index and room
# on the transcripts pages, so the per-append UPDATE of the row is a HOT update.
_MERGE_SUMMARY_INLINE = """
CREATE OR REPLACE FUNCTION {s}.tl_merge_summary(prev jsonb, d jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT ((CASE WHEN coalesce(prev, '{{}}'::jsonb) ? 'first_prompt_locked'
           THEN (d->'first') || coalesce(prev, '{{}}'::jsonb)
           ELSE (d->'first') || (d->'fallback') || coalesce(prev, '{{}}'::jsonb) || (d->'prompt')
           END) || (d->'last')) - ARRAY(SELECT jsonb_array_elements_text(d->'unset'))
$$"""

# tl_append, m003: the row is read without a lock and taken by the UPDATE that writes it,
# only if no other append wrote it since (mtime moves on every write); else read again.
# One row write per append instead of a lock then a write; the summary is merged only when
# the delta could change it.
_APPEND_FUNCTION_V3 = """
CREATE OR REPLACE FUNCTION {s}.tl_append(
  p_project text, p_session text, p_subpath text, p_chunk bytea, p_count integer,
  p_uuids text[], p_head text, p_plain boolean, p_delta jsonb, p_check boolean,
  p_expected text, p_boundary boolean, p_resume_at text, p_preserved text)
RETURNS TABLE (status integer, head text, stored text[])
LANGUAGE plpgsql AS $$
DECLARE
  t record;
  v_stored text[];
  v_chunk bigint;
  v_rc bigint;
  v_rat text;
  v_pc bigint;
BEGIN
  LOOP
    SELECT x.id, x.head, x.mtime, x.resume_chunk, x.resume_at INTO t FROM {s}.transcripts x
      WHERE x.project_key = p_project AND x.session_id = p_session AND x.subpath = p_subpath;
    IF NOT FOUND THEN
      IF p_check AND p_expected IS NOT NULL THEN
        RETURN QUERY SELECT 2, NULL::text, NULL::text[];
        RETURN;
      END IF;
      INSERT INTO {s}.transcripts (project_key, session_id, subpath, mtime)
        VALUES (p_project, p_session, p_subpath, 0) ON CONFLICT DO NOTHING;
      CONTINUE;
    END IF;
    v_stored := NULL;
    IF t.mtime > 0 AND cardinality(p_uuids) > 0 THEN
      SELECT array_agg(u.uuid) INTO v_stored FROM {s}.uuids u
        WHERE u.transcript_id = t.id AND u.uuid = ANY (p_uuids);
    END IF;
    IF p_check AND t.head IS DISTINCT FROM p_expected THEN
      IF cardinality(v_stored) = cardinality(p_uuids) AND NOT p_plain THEN
        RETURN QUERY SELECT 1, t.head, v_stored;
      ELSE
        RETURN QUERY SELECT 2, t.head, NULL::text[];
      END IF;
      RETURN;
    END IF;
    IF cardinality(v_stored) > 0 THEN
      RETURN QUERY SELECT CASE WHEN cardinality(v_stored) = cardinality(p_uuids)
        AND NOT p_plain THEN 1 ELSE 3 END, t.head, v_stored;
      RETURN;
    END IF;
    IF t.mtime > 0 AND p_count = 0 THEN
      RETURN QUERY SELECT 1, t.head, NULL::text[];
      RETURN;
    END IF;
    v_chunk := CASE WHEN p_count > 0 THEN nextval(pg_get_serial_sequence('{s}.chunks', 'id')) END;
    v_rc := t.resume_chunk;
    v_rat := t.resume_at;
    IF p_boundary THEN
      v_rc := v_chunk;
      v_rat := p_resume_at;
      IF p_preserved IS NOT NULL THEN
        -- the compaction keeps entries stored before this batch: start where they are
        SELECT u.chunk_id INTO v_pc FROM {s}.uuids u
          WHERE u.transcript_id = t.id AND u.uuid = p_preserved;
        IF FOUND THEN
          -- chunk_id NULL: stored before migration m002, position unknown: load everything
          v_rat := CASE WHEN v_pc IS NULL THEN NULL ELSE p_preserved END;
          v_rc := coalesce(v_pc, 0);
        END IF;
      END IF;
    END IF;
    UPDATE {s}.transcripts x SET
      head = coalesce(p_head, x.head),
      mtime = greatest((extract(epoch FROM clock_timestamp()) * 1000)::bigint, x.mtime + 1),
      entries = x.entries + p_count,
      resume_chunk = v_rc,
      resume_at = v_rat,
      fields = CASE
        WHEN p_delta IS NULL THEN x.fields
        WHEN x.fields @> (p_delta->'first') AND x.fields @> (p_delta->'last')
          AND p_delta->'unset' = '[]'::jsonb AND (x.fields ? 'first_prompt_locked'
            OR (p_delta->'fallback' = '{{}}'::jsonb AND p_delta->'prompt' = '{{}}'::jsonb))
          THEN x.fields
        ELSE {s}.tl_merge_summary(x.fields, p_delta) END
      WHERE x.id = t.id AND x.mtime = t.mtime;
    EXIT WHEN FOUND;
  END LOOP;
  IF p_count > 0 THEN
    INSERT INTO {s}.chunks (id, transcript_id, data, seq, n) OVERRIDING SYSTEM VALUE
      SELECT v_chunk, t.id, p_chunk, x.entries - p_count, p_count
      FROM {s}.transcripts x WHERE x.id = t.id;
    INSERT INTO {s}.uuids (transcript_id, uuid, chunk_id)
      SELECT t.id, u, v_chunk FROM unnest(p_uuids) AS u;
  END IF;
  RETURN QUERY SELECT 0, coalesce(p_head, t.head), NULL::text[];
END
$$"""

# m004: tl_append with the summary merge written out in its UPDATE. tl_merge_summary is a
# LANGUAGE sql function that cannot be inlined (it has a sub-select), so PostgreSQL parsed and
# planned its body again on every call, and the m003 shortcut that skipped it never applied
# (a batch's created_at is always new, so `fields @> first` failed): that was most of an
# append's server time. Otherwise as m003; it now serves only the appends the one statement
# of _FAST_APPEND leaves to it (a new key, a compaction, a conflict, stored uuids).
_APPEND_FUNCTION_V4 = """
CREATE OR REPLACE FUNCTION {s}.tl_append(
  p_project text, p_session text, p_subpath text, p_chunk bytea, p_count integer,
  p_uuids text[], p_head text, p_plain boolean, p_delta jsonb, p_check boolean,
  p_expected text, p_boundary boolean, p_resume_at text, p_preserved text)
RETURNS TABLE (status integer, head text, stored text[])
LANGUAGE plpgsql AS $$
DECLARE
  t record;
  v_stored text[];
  v_chunk bigint;
  v_rc bigint;
  v_rat text;
  v_pc bigint;
BEGIN
  LOOP
    SELECT x.id, x.head, x.mtime, x.resume_chunk, x.resume_at INTO t FROM {s}.transcripts x
      WHERE x.project_key = p_project AND x.session_id = p_session AND x.subpath = p_subpath;
    IF NOT FOUND THEN
      IF p_check AND p_expected IS NOT NULL THEN
        RETURN QUERY SELECT 2, NULL::text, NULL::text[];
        RETURN;
      END IF;
      INSERT INTO {s}.transcripts (project_key, session_id, subpath, mtime)
        VALUES (p_project, p_session, p_subpath, 0) ON CONFLICT DO NOTHING;
      CONTINUE;
    END IF;
    v_stored := NULL;
    IF t.mtime > 0 AND cardinality(p_uuids) > 0 THEN
      SELECT array_agg(u.uuid) INTO v_stored FROM {s}.uuids u
        WHERE u.transcript_id = t.id AND u.uuid = ANY (p_uuids);
    END IF;
    IF p_check AND t.head IS DISTINCT FROM p_expected THEN
      IF cardinality(v_stored) = cardinality(p_uuids) AND NOT p_plain THEN
        RETURN QUERY SELECT 1, t.head, v_stored;
      ELSE
        RETURN QUERY SELECT 2, t.head, NULL::text[];
      END IF;
      RETURN;
    END IF;
    IF cardinality(v_stored) > 0 THEN
      RETURN QUERY SELECT CASE WHEN cardinality(v_stored) = cardinality(p_uuids)
        AND NOT p_plain THEN 1 ELSE 3 END, t.head, v_stored;
      RETURN;
    END IF;
    IF t.mtime > 0 AND p_count = 0 THEN
      RETURN QUERY SELECT 1, t.head, NULL::text[];
      RETURN;
    END IF;
    v_chunk := CASE WHEN p_count > 0 THEN nextval(pg_get_serial_sequence('{s}.chunks', 'id')) END;
    v_rc := t.resume_chunk;
    v_rat := t.resume_at;
    IF p_boundary THEN
      v_rc := v_chunk;
      v_rat := p_resume_at;
      IF p_preserved IS NOT NULL THEN
        -- the compaction keeps entries stored before this batch: start where they are
        SELECT u.chunk_id INTO v_pc FROM {s}.uuids u
          WHERE u.transcript_id = t.id AND u.uuid = p_preserved;
        IF FOUND THEN
          -- chunk_id NULL: stored before migration m002, position unknown: load everything
          v_rat := CASE WHEN v_pc IS NULL THEN NULL ELSE p_preserved END;
          v_rc := coalesce(v_pc, 0);
        END IF;
      END IF;
    END IF;
    UPDATE {s}.transcripts x SET
      head = coalesce(p_head, x.head),
      mtime = greatest((extract(epoch FROM clock_timestamp()) * 1000)::bigint, x.mtime + 1),
      entries = x.entries + p_count,
      resume_chunk = v_rc,
      resume_at = v_rat,
      fields = CASE WHEN p_delta IS NULL THEN x.fields ELSE ((CASE
        WHEN coalesce(x.fields, '{{}}'::jsonb) ? 'first_prompt_locked'
        THEN (p_delta->'first') || coalesce(x.fields, '{{}}'::jsonb)
        ELSE (p_delta->'first') || (p_delta->'fallback') || coalesce(x.fields, '{{}}'::jsonb)
          || (p_delta->'prompt') END) || (p_delta->'last'))
        - ARRAY(SELECT jsonb_array_elements_text(p_delta->'unset')) END
      WHERE x.id = t.id AND x.mtime = t.mtime;
    EXIT WHEN FOUND;
  END LOOP;
  IF p_count > 0 THEN
    INSERT INTO {s}.chunks (id, transcript_id, data, seq, n) OVERRIDING SYSTEM VALUE
      SELECT v_chunk, t.id, p_chunk, x.entries - p_count, p_count
      FROM {s}.transcripts x WHERE x.id = t.id;
    INSERT INTO {s}.uuids (transcript_id, uuid, chunk_id)
      SELECT t.id, u, v_chunk FROM unnest(p_uuids) AS u;
  END IF;
  RETURN QUERY SELECT 0, coalesce(p_head, t.head), NULL::text[];
END
$$"""

# Delete a main key with its subkeys (p_subpath NULL) or one subkey, after locking their
# rows, so an append that was running commits first and its chunks go too.
_DELETE_FUNCTION = """
CREATE FUNCTION {s}.tl_delete(p_project text, p_session text, p_subpath text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE ids bigint[];
BEGIN
  SELECT array_agg(id) INTO ids FROM (SELECT x.id FROM {s}.transcripts x
    WHERE x.project_key = p_project AND x.session_id = p_session
      AND (p_subpath IS NULL OR x.subpath = p_subpath) FOR UPDATE) locked;
  IF ids IS NULL THEN RETURN; END IF;
  DELETE FROM {s}.chunks WHERE transcript_id = ANY (ids);
  DELETE FROM {s}.uuids WHERE transcript_id = ANY (ids);
  DELETE FROM {s}.transcripts WHERE id = ANY (ids);
END
$$"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "m001_initial",
        (
            """CREATE TABLE {s}.transcripts (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                project_key text NOT NULL,
                session_id text NOT NULL,
                subpath text NOT NULL DEFAULT '',
                head text,
                mtime bigint NOT NULL,
                summary bytea,
                UNIQUE (project_key, session_id, subpath))""",
            "CREATE INDEX transcripts_by_session ON {s}.transcripts (session_id, mtime)",
            """CREATE TABLE {s}.chunks (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                transcript_id bigint NOT NULL REFERENCES {s}.transcripts (id) ON DELETE CASCADE,
                data bytea NOT NULL)""",
            "CREATE INDEX chunks_by_transcript ON {s}.chunks (transcript_id, id)",
            """CREATE TABLE {s}.uuids (
                transcript_id bigint NOT NULL REFERENCES {s}.transcripts (id) ON DELETE CASCADE,
                uuid text NOT NULL,
                PRIMARY KEY (transcript_id, uuid))""",
        ),
    ),
    Migration(
        "m002_one_round_trip",
        (
            # Entry counts per chunk and per transcript (tail loads), the chunk of every
            # uuid (loads after a uuid, compaction starts) and where a load from the last
            # compaction starts (resume_chunk; resume_at: the uuid to start at in it).
            "ALTER TABLE {s}.chunks ADD COLUMN seq bigint NOT NULL DEFAULT 0, "
            "ADD COLUMN n integer NOT NULL DEFAULT 0",
            "ALTER TABLE {s}.uuids ADD COLUMN chunk_id bigint",
            "ALTER TABLE {s}.transcripts ADD COLUMN entries bigint NOT NULL DEFAULT 0, "
            "ADD COLUMN resume_chunk bigint, ADD COLUMN resume_at text, ADD COLUMN fields jsonb",
            _CONVERT_SUMMARIES,
            "ALTER TABLE {s}.transcripts DROP COLUMN summary",
            # Existing chunks: count their lines (JSONL never holds a raw newline inside).
            "UPDATE {s}.chunks SET n = coalesce(array_length(string_to_array("
            "convert_from(data, 'UTF8'), E'\\n'), 1), 1) - 1",
            "UPDATE {s}.chunks c SET seq = s.seq FROM (SELECT id, sum(n) OVER (PARTITION BY "
            "transcript_id ORDER BY id) - n AS seq FROM {s}.chunks) s WHERE c.id = s.id",
            "UPDATE {s}.transcripts t SET entries = coalesce((SELECT sum(n) FROM {s}.chunks c "
            "WHERE c.transcript_id = t.id), 0)",
            # A compaction made before this migration is not indexed: load from the start.
            "UPDATE {s}.transcripts SET resume_chunk = 0",
            _MERGE_SUMMARY,
            _APPEND_FUNCTION,
        ),
    ),
    Migration(
        "m003_lean_writes",
        (
            "ALTER TABLE {s}.chunks DROP CONSTRAINT IF EXISTS chunks_transcript_id_fkey",
            "ALTER TABLE {s}.uuids DROP CONSTRAINT IF EXISTS uuids_transcript_id_fkey",
            "ALTER TABLE {s}.chunks DROP CONSTRAINT IF EXISTS chunks_pkey",
            "DROP INDEX {s}.transcripts_by_session",
            "CREATE INDEX transcripts_by_session ON {s}.transcripts (session_id)",
            "ALTER TABLE {s}.transcripts SET (fillfactor = 50)",
            _MERGE_SUMMARY_INLINE,
            _APPEND_FUNCTION_V3,
            _DELETE_FUNCTION,
        ),
    ),
    Migration("m004_fast_append", (_APPEND_FUNCTION_V4,)),
)

_KEY = "project_key = %s AND session_id = %s AND subpath = %s"
_LOAD = (
    "SELECT c.data FROM {s}.transcripts t LEFT JOIN {s}.chunks c ON c.transcript_id = t.id"
)
_TL_APPEND_CALL = (
    "{s}.tl_append(%(project)s, %(session)s, %(subpath)s, %(chunk)s::bytea, %(count)s::integer, "
    "%(uuids)s::text[], %(head)s::text, %(plain)s, %(delta)s::jsonb, %(check)s, "
    "%(expected)s::text, %(boundary)s, %(resume_at)s::text, %(preserved)s::text)"
)
# One append, one statement. The common case (the key exists, no compaction in the batch, the
# head is as expected) is written by the statement itself: one UPDATE of the key's row (a HOT
# update; its row lock serializes appends to a key, and a writer that waited for it sees the
# row again as the other left it), the chunk and its uuids. Anything else (no row updated)
# goes to tl_append, in the same statement and transaction. A uuid already stored (a retried
# batch, or two appends of one uuid racing) fails the statement on the uuids primary key:
# nothing is written, and the append runs again as _SLOW_APPEND, which finds the uuids stored
# (the index check costs every append a probe this way only when it matters).
_FAST_APPEND = (
    "WITH upd AS (UPDATE {s}.transcripts x SET head = coalesce(%(head)s, x.head), "
    "mtime = greatest((extract(epoch FROM clock_timestamp()) * 1000)::bigint, x.mtime + 1), "
    "entries = x.entries + %(count)s, "
    "fields = CASE WHEN %(delta)s::jsonb IS NULL THEN x.fields ELSE ((CASE "
    "WHEN coalesce(x.fields, '{{}}'::jsonb) ? 'first_prompt_locked' "
    "THEN (%(delta)s::jsonb->'first') || coalesce(x.fields, '{{}}'::jsonb) "
    "ELSE (%(delta)s::jsonb->'first') || (%(delta)s::jsonb->'fallback') "
    "|| coalesce(x.fields, '{{}}'::jsonb) || (%(delta)s::jsonb->'prompt') END) "
    "|| (%(delta)s::jsonb->'last')) - %(unset)s::text[] END "
    "WHERE x.project_key = %(project)s AND x.session_id = %(session)s "
    "AND x.subpath = %(subpath)s AND x.mtime > 0 AND %(count)s > 0 AND NOT %(boundary)s "
    "AND (NOT %(check)s OR x.head IS NOT DISTINCT FROM %(expected)s::text) "
    "RETURNING x.id, x.entries, x.head, x.mtime, x.fields), "
    "ch AS (INSERT INTO {s}.chunks (transcript_id, data, seq, n) "
    "SELECT id, %(chunk)s::bytea, entries - %(count)s, %(count)s FROM upd "
    "RETURNING id, transcript_id), "
    "uu AS (INSERT INTO {s}.uuids (transcript_id, uuid, chunk_id) "
    "SELECT ch.transcript_id, u, ch.id FROM ch, unnest(%(uuids)s::text[]) u) "
    "SELECT 0, head, NULL::text[], id, mtime, fields::text FROM upd UNION ALL "
    "SELECT f.status, f.head, f.stored, NULL, NULL, NULL FROM " + _TL_APPEND_CALL + " f "
    "WHERE NOT EXISTS (SELECT 1 FROM upd)"
)

_SLOW_APPEND = (
    f"SELECT f.status, f.head, f.stored, NULL::bigint, NULL::bigint, NULL::text FROM {_TL_APPEND_CALL} f"
)

# An append to a key this store wrote last (see PostgresStore._known): the row is found by
# its id and taken only if its mtime is still the one that write left, so nobody else wrote
# since and the summary this store knows is the stored one; it is merged here, in Python,
# and sent whole only if the batch changes it. No union with tl_append, no summary merge in
# SQL: an append of a single writer costs the server little more than one INSERT. No row:
# another writer came between (or the head moved, or the key was deleted); the append then
# runs as _FAST_APPEND.
_LEAN_APPEND = (
    "WITH upd AS (UPDATE {s}.transcripts x SET head = coalesce(%(head)s, x.head), "
    "mtime = greatest((date_part('epoch', clock_timestamp()) * 1000)::bigint, x.mtime + 1), "
    "entries = x.entries + %(count)s, fields = coalesce(%(fields)s::jsonb, x.fields) "
    "WHERE x.id = %(id)s AND x.mtime = %(mtime)s "
    "AND (NOT %(check)s OR x.head IS NOT DISTINCT FROM %(expected)s::text) "
    "RETURNING x.id, x.entries, x.mtime), "
    "ch AS (INSERT INTO {s}.chunks (transcript_id, data, seq, n) "
    "SELECT id, %(chunk)s::bytea, entries - %(count)s, %(count)s FROM upd "
    "RETURNING id, transcript_id), "
    "uu AS (INSERT INTO {s}.uuids (transcript_id, uuid, chunk_id) "
    "SELECT ch.transcript_id, u, ch.id FROM ch, unnest(%(uuids)s::text[]) u) "
    "SELECT mtime FROM upd"
)

# _LEAN_APPEND for the commonest append of all, one entry with a uuid (a lone writer's turn,
# message by message): the uuid as a scalar instead of an array to unnest, the chunk in
# binary, the count a constant, and the head check only in the conditional form: 15-20 %
# less CPU for the client and the server than _LEAN_APPEND on this shape (a micro-benchmark
# with the commit's flush off, 2026-12-06; the end-to-end figures are in docs/benchmarks.md,
# "PostgreSQL appends, sixth pass").
_LEAN_ONE = (
    "WITH upd AS (UPDATE {{s}}.transcripts x SET head = coalesce(%(head)s, x.head), "
    "mtime = greatest((date_part('epoch', clock_timestamp()) * 1000)::bigint, x.mtime + 1), "
    "entries = x.entries + 1, fields = coalesce(%(fields)s::jsonb, x.fields) "
    "WHERE x.id = %(id)s AND x.mtime = %(mtime)s{check} "
    "RETURNING x.id, x.entries, x.mtime), "
    "ch AS (INSERT INTO {{s}}.chunks (transcript_id, data, seq, n) "
    "SELECT id, %(chunk)b, entries - 1, 1 FROM upd RETURNING id, transcript_id), "
    "uu AS (INSERT INTO {{s}}.uuids (transcript_id, uuid, chunk_id) "
    "SELECT transcript_id, %(uuid)s::text, id FROM ch) "
    "SELECT mtime FROM upd"
)

# A group of appends to distinct keys (see _groupcommit), one statement and one transaction,
# one array per column, sent in binary (psycopg escapes text arrays with a regex, which cost
# more than the statement). A member this store wrote last (see PostgresStore._known) is
# written as _LEAN_APPEND does (its row by id, taken only if its mtime is unchanged, its
# summary folded in Python: ``id`` set), the others as _FAST_APPEND's fast path does (the
# row by key, the summary delta merged here: ``id`` 0); the uuids go as (member, uuid)
# pairs. Returns the members it wrote; the others (a new key, a moved head, another writer
# between) are written one by one afterwards. Any error writes nothing (one transaction).
_GROUP_APPEND = (
    "WITH a AS (SELECT * FROM unnest(%(id)b::bigint[], %(mtime)b::bigint[], "
    "%(fields)b::jsonb[], %(project)b::text[], %(session)b::text[], "
    "%(subpath)b::text[], %(chunk)b::bytea[], %(count)b::integer[], %(head)b::text[], "
    "%(delta)b::jsonb[], %(check)b::boolean[], %(expected)b::text[]) WITH ORDINALITY "
    "AS a(id, mtime, fields, project, session, subpath, chunk, n, head, delta, chk, expected, "
    "ord)), "
    "lean AS (UPDATE {s}.transcripts x SET head = coalesce(a.head, x.head), "
    "mtime = greatest((date_part('epoch', clock_timestamp()) * 1000)::bigint, x.mtime + 1), "
    "entries = x.entries + a.n, fields = coalesce(a.fields, x.fields) "
    "FROM a WHERE x.id = a.id AND x.mtime = a.mtime "
    "AND (NOT a.chk OR x.head IS NOT DISTINCT FROM a.expected) "
    "RETURNING a.ord, x.id, x.entries, x.mtime, NULL::text AS fields), "
    "keyed AS (UPDATE {s}.transcripts x SET head = coalesce(a.head, x.head), "
    "mtime = greatest((extract(epoch FROM clock_timestamp()) * 1000)::bigint, x.mtime + 1), "
    "entries = x.entries + a.n, "
    "fields = CASE WHEN a.delta IS NULL THEN x.fields ELSE ((CASE "
    "WHEN coalesce(x.fields, '{{}}'::jsonb) ? 'first_prompt_locked' "
    "THEN (a.delta->'first') || coalesce(x.fields, '{{}}'::jsonb) "
    "ELSE (a.delta->'first') || (a.delta->'fallback') "
    "|| coalesce(x.fields, '{{}}'::jsonb) || (a.delta->'prompt') END) "
    "|| (a.delta->'last')) - ARRAY(SELECT jsonb_array_elements_text(a.delta->'unset')) END "
    "FROM a WHERE a.id = 0 AND x.project_key = a.project AND x.session_id = a.session "
    "AND x.subpath = a.subpath AND x.mtime > 0 "
    "AND (NOT a.chk OR x.head IS NOT DISTINCT FROM a.expected) "
    "RETURNING a.ord, x.id, x.entries, x.mtime, x.fields::text), "
    "upd AS (SELECT * FROM lean UNION ALL SELECT * FROM keyed), "
    "ch AS (INSERT INTO {s}.chunks (transcript_id, data, seq, n) "
    "SELECT upd.id, a.chunk, upd.entries - a.n, a.n FROM upd JOIN a ON a.ord = upd.ord "
    "RETURNING id, transcript_id), "
    "uu AS (INSERT INTO {s}.uuids (transcript_id, uuid, chunk_id) "
    "SELECT ch.transcript_id, u.uuid, ch.id FROM ch JOIN upd ON upd.id = ch.transcript_id "
    "JOIN unnest(%(u_ord)b::bigint[], %(u_uuid)b::text[]) AS u(ord, uuid) ON u.ord = upd.ord) "
    "SELECT ord, id, mtime, fields FROM upd"
)

_QUERIES = {
    "append": _FAST_APPEND,
    "append_slow": _SLOW_APPEND,
    "append_lean": _LEAN_APPEND,
    "append_lean_one": _LEAN_ONE.format(check=""),
    "append_lean_one_if": _LEAN_ONE.format(
        check=" AND x.head IS NOT DISTINCT FROM %(expected)s::text"
    ),
    "append_group": _GROUP_APPEND,
    "head": f"SELECT head FROM {{s}}.transcripts WHERE {_KEY}",
    "load": f"{_LOAD} WHERE t.{_KEY.replace(' AND ', ' AND t.')} ORDER BY c.id",
    "load_compacted": "SELECT t.resume_at, c.data FROM {s}.transcripts t LEFT JOIN {s}.chunks c "
    "ON c.transcript_id = t.id AND c.id >= coalesce(t.resume_chunk, 0) "
    f"WHERE t.{_KEY.replace(' AND ', ' AND t.')} ORDER BY c.id",
    "load_after": "SELECT c.data FROM {s}.transcripts t JOIN {s}.uuids u "
    "ON u.transcript_id = t.id AND u.uuid = %s JOIN {s}.chunks c "
    "ON c.transcript_id = t.id AND c.id >= u.chunk_id "
    f"WHERE t.{_KEY.replace(' AND ', ' AND t.')} ORDER BY c.id",
    "load_tail": "SELECT c.data FROM {s}.transcripts t LEFT JOIN {s}.chunks c "
    "ON c.transcript_id = t.id AND c.id >= coalesce((SELECT max(k.id) FROM {s}.chunks k "
    "WHERE k.transcript_id = t.id AND k.seq <= t.entries - %s), 0) "
    f"WHERE t.{_KEY.replace(' AND ', ' AND t.')} ORDER BY c.id",
    "list": "SELECT session_id, mtime FROM {s}.transcripts WHERE project_key = %s AND subpath = ''",
    "summaries": "SELECT session_id, mtime, fields::text FROM {s}.transcripts "
    "WHERE project_key = %s AND subpath = '' AND fields IS NOT NULL",
    "subkeys": "SELECT subpath FROM {s}.transcripts WHERE project_key = %s AND session_id = %s "
    "AND subpath <> '' ORDER BY subpath",
    "projects": "SELECT DISTINCT project_key FROM {s}.transcripts ORDER BY 1",
    "find": "SELECT project_key FROM {s}.transcripts WHERE session_id = %s AND subpath = '' "
    "ORDER BY mtime DESC LIMIT 1",
    "delete": "SELECT {s}.tl_delete(%s, %s, %s)",
    "migrations": "SELECT name FROM {s}._migrations ORDER BY name",
}

_STATUS_WRITTEN, _STATUS_STORED, _STATUS_CONFLICT, _STATUS_PARTIAL = 0, 1, 2, 3
_KNOWN_KEYS = 4096  # keys whose last write a store remembers (see _append_lean)


def _params(key: SessionKey) -> tuple[str, str, str]:
    return key["project_key"], key["session_id"], key.get("subpath", "")


class PostgresStore(DatabaseStore):
    """A :class:`~threadline.SessionStore` in a PostgreSQL schema; every optional method.

    Args:
        dsn: a libpq connection string or URL (``postgresql://user@host/db``).
        namespace: the schema that holds the tables (created if missing);
            lowercase letters, digits and ``_``.
        min_size / max_size: connection pool bounds (16 connections serve 16
            sessions appending at once without queueing). With more than one, a lone
            writer keeps one of them for its appends.
        connect_timeout: seconds to wait for a connection.
        retries: how many times an idempotent operation is retried on a fresh
            connection after its connection broke.

    The pool opens on first use (or ``async with``); ``aclose()`` closes it and
    is idempotent. Also a :class:`~threadline.sessions.PartialLoadStore`.
    """

    def __init__(
        self,
        dsn: str,
        *,
        namespace: str = "threadline",
        min_size: int = 1,
        max_size: int = 16,
        connect_timeout: float = 10.0,
        retries: int = 2,
    ) -> None:
        self._psycopg = require_driver("psycopg", "postgres", "PostgresStore")
        self._pool_mod = require_driver("psycopg_pool", "postgres", "PostgresStore")
        self.namespace = validate_namespace(namespace)
        self._dsn = dsn
        self._sizes = (min_size, max_size)
        self._timeout = connect_timeout
        self._retries = max(0, retries)
        self._pool: AsyncConnectionPool[Any] | None = None
        self._open_lock = anyio.Lock()
        self._group = GroupCommit(self._write_group)
        self._solo: AsyncConnection[Any] | None = None
        self._solo_cursor: AsyncCursor[Any] | None = None  # _solo's (see _solo_row)
        # key -> (row id, mtime, summary data) as this store's last write to it left them
        self._known: OrderedDict[tuple[str, str, str], tuple[int, int, dict[str, Any] | None]]
        self._known = OrderedDict()
        self.bytes_read = 0
        """Transcript bytes fetched by loads so far (for tests and benchmarks)."""
        sql = self._psycopg.sql
        schema = sql.Identifier(self.namespace)
        # Rendered once: the schema is a validated, quoted identifier.
        self._q: dict[str, str] = {
            name: sql.SQL(text).format(s=schema).as_string() for name, text in _QUERIES.items()
        }
        self._errors: tuple[type[BaseException], ...] = (
            self._psycopg.Error,
            self._pool_mod.PoolTimeout,
        )
        self._what_append = f"{self!r}: append"  # the context of an append's errors

    def _describe(self) -> str:
        return f"namespace={self.namespace!r}"

    async def _open(self) -> None:
        await self._ready()

    async def _release(self) -> None:
        await self._group.drain()
        solo, self._solo, self._solo_cursor = self._solo, None, None
        if solo is not None and self._pool is not None:
            await self._pool.putconn(solo)
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    # -- plumbing ----------------------------------------------------------

    async def _ready(self) -> AsyncConnectionPool[Any]:
        self._check_open()
        if self._pool is not None:
            return self._pool
        async with self._open_lock:
            if self._pool is None:
                with map_errors(self._errors, f"{self!r}: connecting"):
                    self._pool = await self._open_pool()
            return self._pool

    async def _open_pool(self) -> AsyncConnectionPool[Any]:
        """Migrate over a first, direct connection (a wrong host, port, database or password
        fails here at once with the server's own words), then open the pool."""
        kwargs = {"autocommit": True, "connect_timeout": max(1, round(self._timeout))}
        conn = await self._psycopg.AsyncConnection.connect(self._dsn, **kwargs)
        try:
            await self._migrate(conn)
        finally:
            await conn.close()
        pool: AsyncConnectionPool[Any] = self._pool_mod.AsyncConnectionPool(
            self._dsn,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            open=False,
            timeout=self._timeout,
            kwargs=kwargs,
            configure=_configure,
        )
        try:
            await pool.open(wait=True, timeout=self._timeout)
        except BaseException:
            await pool.close()
            raise
        return pool

    @asynccontextmanager
    async def _checkout(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection that is not known dead (checked without a round trip)."""
        pool = await self._ready()
        for _ in range(self._sizes[1] + 1):
            conn = await pool.getconn()
            if _alive(conn):
                break
            await conn.close()  # the pool drops closed connections and grows again
            await pool.putconn(conn)
        else:  # pragma: no cover - every pooled connection dead, and the new ones too
            conn = await pool.getconn()
        try:
            yield conn
        finally:
            await pool.putconn(conn)

    async def _solo_row(self, name: str, params: Any) -> Any:
        """Run a prepared statement once on the store's single-writer connection: a pooled
        connection kept out of the pool for the one append that finds no other write in
        flight (at most one runs at a time, see :class:`GroupCommit`), so that an append
        of a lone writer does not pay the pool's check-out and return. A connection found
        dead is replaced; one that raised goes back to the pool, which checks it. A pool of
        one connection keeps none out: everything else (loads, groups, the full statement
        an append may fall back to) would wait for it."""
        if self._sizes[1] < 2:
            return await self._row_once(name, params)
        pool = self._pool if self._pool is not None and not self._closed else await self._ready()
        conn, cur = self._solo, self._solo_cursor
        if conn is None or cur is None or not _alive(conn):
            self._solo = None
            if conn is not None:
                await conn.close()
                await pool.putconn(conn)
            conn = await pool.getconn()
            cur = conn.cursor()
            self._solo, self._solo_cursor = conn, cur
        try:
            # one cursor for the connection's life: a new one per call cost as much client
            # work as the statement's parameters
            await cur.execute(self._q[name], params, prepare=True)
            return await cur.fetchone()
        except BaseException:
            if self._solo is conn:  # (aclose may have taken it back meanwhile)
                self._solo = self._solo_cursor = None
                await pool.putconn(conn)
            raise

    async def _row_once(self, name: str, params: Any) -> Any:
        """Run a prepared statement once on a pooled connection (driver errors raised)."""
        async with self._checkout() as conn:
            cur = await conn.execute(self._q[name], params, prepare=True)
            return await cur.fetchone()

    async def _run(
        self, what: str, op: Callable[[AsyncConnection[Any]], Awaitable[T]], *, idempotent: bool
    ) -> T:
        """Run ``op`` on a healthy connection; retry an idempotent one whose connection broke."""
        attempt = 0
        while True:
            with map_errors(self._errors, f"{self!r}: {what}"):
                try:
                    async with self._checkout() as conn:
                        return await op(conn)
                except self._psycopg.OperationalError:
                    if not idempotent or attempt >= self._retries:
                        raise
            attempt += 1
            await anyio.sleep(0.02 * 2**attempt)

    async def _rows(self, name: str, params: Any, *, binary: bool = False) -> list[Any]:
        async def op(conn: AsyncConnection[Any]) -> list[Any]:
            cur = await conn.execute(self._q[name], params, binary=binary)
            return await cur.fetchall()

        return await self._run(name, op, idempotent=True)

    async def _migrate(self, conn: AsyncConnection[Any]) -> None:
        sql = self._psycopg.sql
        schema = sql.Identifier(self.namespace)
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"threadline:{self.namespace}"]
            )
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            await conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {}._migrations "
                    "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
                ).format(schema)
            )
            cur = await conn.execute(sql.SQL("SELECT name FROM {}._migrations").format(schema))
            done = {r[0] for r in await cur.fetchall()}
            for migration in MIGRATIONS:
                if migration.name in done:
                    continue
                for statement in migration.statements:
                    await conn.execute(sql.SQL(statement).format(s=schema))
                await conn.execute(
                    sql.SQL("INSERT INTO {}._migrations (name) VALUES (%s)").format(schema),
                    [migration.name],
                )

    async def applied_migrations(self) -> list[str]:
        """Names recorded in ``<namespace>._migrations``, in order."""
        return [r[0] for r in await self._rows("migrations", ())]

    # -- appends -----------------------------------------------------------

    async def append(self, key: SessionKey, entries: list[SessionStoreEntry]) -> None:
        check_db_key(key)
        await self._append(key, list(entries), None, check=False)

    async def append_conditional(
        self, key: SessionKey, entries: list[SessionStoreEntry], *, expected_head: str | None
    ) -> None:
        """Append only if the head is still ``expected_head`` (checked under the row lock)."""
        check_db_key(key)
        check_expected_head(expected_head, nul=False)  # (text columns hold no NUL)
        await self._append(key, list(entries), expected_head, check=True)

    async def _append(
        self,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        expected: str | None,
        *,
        check: bool,
    ) -> None:
        slot = _params(key)
        # A key this store wrote last folds the batch onto the summary it knows instead.
        # (a uuid the text columns cannot hold is a UserError here, before any group)
        batch = prepare_batch(key, entries, summarize=slot not in self._known, nul=False)
        if batch.count == 0 or batch.boundary is not None:
            # nothing to write (a no-op or the key's creation) or a compaction to place:
            # always on its own
            return await self._append_one(key, entries, batch, expected, check)
        if not self._group.begin(slot):
            # other writes are in flight: join the next group (see _groupcommit)
            work = (key, entries, batch, expected, check)
            await self._group.submit(slot, work)
            return None
        try:
            # the only write in flight: on the store's own connection (see _solo_row)
            await self._append_one(key, entries, batch, expected, check, solo=True)
        finally:
            self._group.end(slot)
        return None

    async def _append_one(
        self,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        batch: Batch,
        expected: str | None,
        check: bool,
        *,
        solo: bool = False,
    ) -> None:
        """One append: one statement in the common case (see :data:`_LEAN_APPEND` and
        :data:`_FAST_APPEND`)."""
        query = "append"
        if batch.boundary is None and batch.count > 0:
            written = await self._append_lean(key, batch, expected, check, solo=solo)
            if written:
                return
            if written is None:  # a uuid of the batch is stored: tl_append sorts it out
                query = "append_slow"
        await self._append_planned(key, entries, with_delta(key, batch), expected, check, query)

    async def _append_lean(
        self, key: SessionKey, batch: Batch, expected: str | None, check: bool, *, solo: bool
    ) -> bool | None:
        """Append to a key this store wrote last: ``True`` written, ``False`` not this
        way (unknown key, another writer came between, or a broken connection left the
        outcome unknown: the full statement finds what landed), ``None`` a uuid is stored."""
        slot = _params(key)
        known = self._known.pop(slot, None)
        if known is None:
            return False
        row_id, mtime, data = known
        fields, data = _fold_known(key, batch, data)
        params: dict[str, Any] = {"head": batch.head, "fields": fields, "id": row_id, "mtime": mtime}
        if batch.count == 1 and batch.uuids:
            name = "append_lean_one_if" if check else "append_lean_one"
            params.update(chunk=batch.lines[0], uuid=batch.uuids[0])
            if check:
                params["expected"] = expected
        else:
            name = "append_lean"
            params.update(
                count=batch.count,
                check=check,
                expected=expected,
                chunk=batch.chunk,
                uuids=batch.uuids,
            )
        with map_errors(self._errors, self._what_append):
            try:
                if solo:
                    row = await self._solo_row(name, params)
                else:
                    row = await self._row_once(name, params)
            except self._psycopg.errors.UniqueViolation:
                return None
            except self._psycopg.OperationalError:
                if batch.plain:  # not idempotent: the outcome is unknown, say so
                    raise
                return False
        if row is None:
            return False
        self._remember(slot, row_id, row[0], data)
        return True

    async def _append_planned(
        self,
        key: SessionKey,
        entries: list[SessionStoreEntry],
        batch: Batch,
        expected: str | None,
        check: bool,
        query: str,
    ) -> None:
        # Idempotent when every entry has a uuid: a retry that finds them stored is a no-op.
        idempotent = not batch.plain
        attempts = 0
        while True:
            params = _append_params(key, batch, expected, check)

            async def op(conn: AsyncConnection[Any], q: str = query, params: Any = params) -> Any:
                # Prepared on first use: planning this statement costs more than running it.
                cur = await conn.execute(self._q[q], params, prepare=True)
                return await cur.fetchone()

            try:
                status, head, stored, row_id, mtime, fields = await self._run(
                    "append", op, idempotent=idempotent
                )
            except StorageError as exc:
                # A uuid of the batch is stored (a retry), or a racing append stored it
                # meanwhile: nothing was written; tl_append checks the stored uuids.
                unique = self._psycopg.errors.UniqueViolation
                if not isinstance(exc.__cause__, unique) or attempts >= 2:
                    raise
                attempts += 1
                query = "append_slow"
                continue
            if row_id is not None:
                self._remember(_params(key), row_id, mtime, _fields(fields) if fields else None)
            if status == _STATUS_CONFLICT:
                raise conflict_error(key, expected, head)
            if status != _STATUS_PARTIAL:
                return
            # Some uuids were stored meanwhile (a retry racing new entries): plan again.
            batch = prepare_batch(key, entries, stored=set(stored), nul=False)

    def _remember(
        self, slot: tuple[str, str, str], row_id: int, mtime: int, data: dict[str, Any] | None
    ) -> None:
        """What this store's last write to a key left (for :meth:`_append_lean`)."""
        known = self._known
        known[slot] = (row_id, mtime, data)
        if len(known) > _KNOWN_KEYS:
            known.popitem(last=False)

    async def _write_group(self, members: list[Member]) -> None:
        """Write a group of appends to distinct keys (see :class:`GroupCommit`)."""
        if len(members) > 1:
            plans = [self._group_plan(m) for m in members]
            try:
                rows = await self._rows_once("append_group", _group_params(members, plans))
            except StorageError as exc:
                if isinstance(exc.__cause__, self._psycopg.OperationalError):
                    # the connection broke: the group may or may not have committed;
                    # only appends that a retry cannot duplicate are written again
                    for m in members:
                        if m.work[2].plain:
                            settle(m, error=exc)
                # any other error rolled the whole group back: each goes on its own
            else:
                written = {r[0]: r for r in rows}
                for i, (m, plan) in enumerate(zip(members, plans), 1):
                    if i in written:
                        _, row_id, mtime, fields = written[i]
                        data = plan.data if plan.lean else _fields(fields) if fields else None
                        self._remember(_params(m.work[0]), row_id, mtime, data)
                        settle(m)
        for m in members:  # the group left these: a new key, a moved head, an error
            if m.future.done():
                continue
            try:
                await self._append_one(*m.work)
            except Exception as exc:
                settle(m, error=exc)
            else:
                settle(m)

    def _group_plan(self, member: Member) -> _GroupPlan:
        """How a member goes in its group: by row id with its summary folded here when this
        store wrote the key last, else by key with the summary delta. Either way what was
        known of the key is dropped (the group moves its ``mtime``; the write that
        succeeds remembers the new state)."""
        key, _, batch, _, _ = member.work
        known = self._known.pop(_params(key), None)
        if known is None:
            member.work = (key, member.work[1], with_delta(key, batch), *member.work[3:])
            return _GroupPlan(0, 0, None, None)
        row_id, mtime, data = known
        fields, data = _fold_known(key, batch, data)
        return _GroupPlan(row_id, mtime, fields, data)

    async def get_head(self, key: SessionKey) -> str | None:
        check_db_key(key)
        rows = await self._rows("head", _params(key))
        return rows[0][0] if rows else None

    # -- reads -------------------------------------------------------------

    def _parse(self, rows: list[Any], column: int) -> list[SessionStoreEntry]:
        chunks = [bytes(r[column]) for r in rows if r[column] is not None]
        self.bytes_read += sum(map(len, chunks))
        return list(iter_objects(b"".join(chunks)))  # type: ignore[arg-type]

    async def load(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        check_db_key(key)
        rows = await self._rows("load", _params(key), binary=True)
        if not rows:
            return None
        return self._parse(rows, 0)

    async def load_since_compaction(self, key: SessionKey) -> list[SessionStoreEntry] | None:
        """The entries from the last compaction's preserved segment on (see the protocol)."""
        check_db_key(key)
        rows = await self._rows("load_compacted", _params(key), binary=True)
        if not rows:
            return None
        return from_uuid(self._parse(rows, 1), rows[0][0])

    async def load_after(self, key: SessionKey, uuid: str) -> list[SessionStoreEntry] | None:
        """The entries after the one whose uuid is ``uuid`` (``None``: key or uuid unknown)."""
        check_db_key(key)
        if not findable_uuid(uuid, nul=False):  # (text columns hold no NUL)
            self._check_open()
            return None
        rows = await self._rows("load_after", (uuid, *_params(key)), binary=True)
        if not rows:
            return None
        return from_uuid(self._parse(rows, 0), uuid, after=True)

    async def load_tail(self, key: SessionKey, count: int) -> list[SessionStoreEntry] | None:
        """The last ``count`` entries."""
        check_db_key(key)
        rows = await self._rows("load_tail", (max(0, count), *_params(key)), binary=True)
        if not rows:
            return None
        entries = self._parse(rows, 0)
        return entries[max(0, len(entries) - count) :] if count > 0 else []

    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        validate_project_key(project_key)
        rows = await self._rows("list", (project_key,))
        return [{"session_id": sid, "mtime": int(mtime)} for sid, mtime in rows]

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        validate_project_key(project_key)
        rows = await self._rows("summaries", (project_key,))
        return [summary_from(sid, mtime, _fields(text)) for sid, mtime, text in rows]

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        check_main_key(key)
        rows = await self._rows("subkeys", (key["project_key"], key["session_id"]))
        return [r[0] for r in rows]

    async def list_projects(self) -> list[str]:
        """Every project key that holds a transcript (for exporting everything)."""
        return [r[0] for r in await self._rows("projects", ())]

    async def find_session(self, session_id: str) -> SessionKey | None:
        """The key of ``session_id`` in any project (the most recently written), else ``None``."""
        if not findable_session_id(session_id):
            self._check_open()
            return None
        rows = await self._rows("find", (session_id,))
        return {"project_key": rows[0][0], "session_id": session_id} if rows else None

    async def delete(self, key: SessionKey) -> None:
        """Delete one key; a main key takes its subkeys and summary with it (atomically)."""
        check_db_key(key)
        for slot in [k for k in self._known if k[:2] == (key["project_key"], key["session_id"])]:
            if key.get("subpath") in (None, slot[2]):
                del self._known[slot]
        await self._rows_none("delete", (key["project_key"], key["session_id"], key.get("subpath")))

    async def _rows_once(self, name: str, params: Any) -> list[Any]:
        """Run a prepared write once (never retried: the caller decides)."""

        async def op(conn: AsyncConnection[Any]) -> list[Any]:
            cur = await conn.execute(self._q[name], params, prepare=True)
            return await cur.fetchall()

        return await self._run(name, op, idempotent=False)

    async def _rows_none(self, name: str, params: Any) -> None:
        async def op(conn: AsyncConnection[Any]) -> None:
            await conn.execute(self._q[name], params)

        await self._run(name, op, idempotent=True)


def _append_params(
    key: SessionKey, batch: Batch, expected: str | None, check: bool
) -> dict[str, Any]:
    start = batch.start_index()
    in_batch = start is not None and start != batch.boundary
    resume_at = None if start is None else batch.entries[start].get("uuid")
    delta = batch.delta
    return {
        "project": key["project_key"],
        "session": key["session_id"],
        "subpath": key.get("subpath", ""),
        "chunk": batch.chunk,
        "count": batch.count,
        "uuids": batch.uuids,
        "head": batch.head,
        "plain": batch.plain,
        "delta": None if delta is None else _pg_delta(delta),
        "unset": [] if delta is None else delta["unset"],
        "check": check,
        "expected": expected,
        "boundary": batch.boundary is not None,
        "resume_at": resume_at if isinstance(resume_at, str) else None,
        "preserved": None if in_batch else batch.preserved_head,
    }


@dataclass(frozen=True)
class _GroupPlan:
    """A group member's row: by id (``row_id`` > 0, see :data:`_LEAN_APPEND`) with the
    summary it leaves (``data``; ``fields``: its stored text when the batch changed it),
    or by key (``row_id`` 0)."""

    row_id: int
    mtime: int
    fields: str | None
    data: dict[str, Any] | None

    @property
    def lean(self) -> bool:
        return self.row_id > 0


_GROUP_COLUMNS = (
    "id", "mtime", "fields", "project", "session", "subpath", "chunk", "count", "head",
    "delta", "check", "expected",
)


def _group_params(members: list[Member], plans: list[_GroupPlan]) -> dict[str, Packed]:
    """The columns of :data:`_GROUP_APPEND`: one array element per member, in order
    (packed here: see :mod:`._pgarrays`)."""
    cols: dict[str, list[Any]] = {name: [] for name in (*_GROUP_COLUMNS, "u_ord", "u_uuid")}
    for i, (m, plan) in enumerate(zip(members, plans), 1):
        key, _, batch, expected, check = m.work
        row: tuple[Any, ...]
        if plan.lean:
            row = (plan.row_id, plan.mtime, plan.fields, None, None, None, None)
        else:
            delta = batch.delta
            row = (0, 0, None, key["project_key"], key["session_id"], key.get("subpath", ""),
                   None if delta is None else _pg_delta(delta))
        for name, value in zip(
            _GROUP_COLUMNS,
            (*row[:6], batch.chunk, batch.count, batch.head, row[6], check, expected),
        ):
            cols[name].append(value)
        cols["u_ord"].extend([i] * len(batch.uuids))
        cols["u_uuid"].extend(batch.uuids)
    return {name: _PACK[name](values) for name, values in cols.items()}


_PACK: dict[str, Callable[[Any], Packed]] = {
    "id": pg.int8s, "mtime": pg.int8s, "fields": pg.texts, "project": pg.texts,
    "session": pg.texts, "subpath": pg.texts, "chunk": pg.byteas, "count": pg.int4s,
    "head": pg.texts, "delta": pg.texts, "check": pg.bools, "expected": pg.texts,
    "u_ord": pg.int8s, "u_uuid": pg.texts,
}


def _fold_known(
    key: SessionKey, batch: Batch, data: dict[str, Any] | None
) -> tuple[str | None, dict[str, Any] | None]:
    """Fold ``batch`` onto the summary ``data`` this store left for ``key``: the summary
    after it, and its stored text when the batch changed it (else ``None``: kept)."""
    if "subpath" in key:
        return None, data
    data = data or {}
    summary: SessionSummaryEntry = {"session_id": "", "mtime": 0, "data": data}
    merged = fold_session_summary(summary, key, batch.entries)["data"]
    if merged != data:
        return _pg_fields(merged), merged
    return None, data


def _pg_delta(delta: dict[str, Any]) -> str:
    """A summary delta as ``tl_merge_summary`` takes it: values as their JSON texts."""

    def texts(fields: dict[str, Any]) -> dict[str, str]:
        return {k: dumps_value(v).decode() for k, v in fields.items()}

    prompt = delta["prompt"]
    fallback = {k: prompt[k] for k in ("command_fallback",) if k in prompt}
    first = {"first_prompt": prompt["first_prompt"], "first_prompt_locked": True} if (
        "first_prompt" in prompt
    ) else {}
    return orjson.dumps(
        {
            "first": texts(delta["first"]),
            "fallback": texts(fallback),
            "prompt": texts(first),
            "last": texts(delta["last"]),
            "unset": delta["unset"],
        }
    ).decode()


async def _configure(conn: AsyncConnection[Any]) -> None:
    """Each pooled connection plans the store's statements once (psycopg prepares a statement
    on its sixth use): by default PostgreSQL plans a prepared statement again for every call
    while the generic plan's estimate looks dearer, and for this store's statements (every
    one an index lookup by key) that costs more than running them."""
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    pg.register(conn.adapters)


def _pg_fields(data: dict[str, Any]) -> str:
    """A summary's data as stored: field -> the JSON text of its value (see _MERGE_SUMMARY)."""
    return orjson.dumps({k: dumps_value(v).decode() for k, v in data.items()}).decode()


def _fields(text: str) -> dict[str, Any]:
    return {k: loads_value(v) for k, v in orjson.loads(text).items()}


def _alive(conn: Any) -> bool:
    """Whether a pooled connection may still work, without a round trip: an idle
    connection has nothing to read, so a readable socket means the server closed it (or
    said why before closing: ``pg_terminate_backend``, ``idle_session_timeout``)."""
    if conn.closed or conn.broken:
        return False
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except Exception:
        return False
    return not readable
