"""Claude Code's JSONL transcript format: bytes and dicts, no stores, no I/O policy.

The tolerant line codec (``_jsonl``), the entry factory and API-message conversion
(``_entries``), the conversation-chain rebuild (``_chain``), listing fields from a file's head
and tail (``_lite``) and the entry views (``_views``). Imports only floor 0 (errors, ids,
result types).
"""
