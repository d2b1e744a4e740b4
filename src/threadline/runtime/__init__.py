"""The agent runtime floor: options, hooks, permissions, the turn loop, resume, compaction,
checkpoints and subagents.

It sits above ``providers/``, ``tools/``, ``privacy/`` and ``sessions/`` and below the face
(``query()``, ``AgentClient``). Nothing here is public API: the names users need are
re-exported by :mod:`threadline`.
"""
