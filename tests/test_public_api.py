"""The curated public surface: every export exists, the list is sorted, drivers stay lazy."""

from __future__ import annotations

import subprocess
import sys

import threadline


def test_all_is_sorted_and_complete() -> None:
    assert threadline.__all__ == sorted(threadline.__all__)
    for name in threadline.__all__:
        assert hasattr(threadline, name), name


def test_official_names_are_there() -> None:
    import claude_agent_sdk

    official = {
        "query", "ClaudeSDKClient", "ClaudeAgentOptions", "AssistantMessage", "UserMessage",
        "SystemMessage", "ResultMessage", "TextBlock", "ThinkingBlock", "ToolUseBlock",
        "ToolResultBlock", "HookMatcher", "PermissionResultAllow", "PermissionResultDeny",
        "AgentDefinition", "tool", "create_sdk_mcp_server", "list_sessions", "get_session_info",
        "get_session_messages", "list_subagents", "get_subagent_messages", "rename_session",
        "tag_session", "delete_session", "fork_session", "project_key_for_directory",
        "list_sessions_from_store", "get_session_info_from_store", "get_session_messages_from_store",
        "list_subagents_from_store", "get_subagent_messages_from_store", "rename_session_via_store",
        "tag_session_via_store", "delete_session_via_store", "fork_session_via_store",
        "import_session_to_store", "InMemorySessionStore", "fold_session_summary", "SDKSessionInfo",
        "SessionMessage", "ForkSessionResult", "SessionKey", "SessionStore",
    }
    assert official <= set(dir(claude_agent_sdk))  # the names really are the official ones
    missing = official - set(threadline.__all__)
    assert not missing, missing


def test_import_is_light() -> None:
    code = (
        "import sys, threadline\n"
        "heavy = [m for m in ('anthropic', 'openai', 'psycopg', 'redis', 'cryptography', 'mcp') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
