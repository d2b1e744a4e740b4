"""threadline's public API against the installed official ``claude_agent_sdk`` (a dev dependency).

Every name of the official ``__all__`` must import from ``threadline`` and from
``threadline.types``, and every public name of ``claude_agent_sdk.types`` from
``threadline.types``, with the same kind (class, dataclass, TypedDict, Literal, union,
alias, function) and the same shape: dataclass fields (names, order, defaults), TypedDict
keys (required and optional), Literal values, union members, exception bases and
constructor parameters, function parameters. The names are read from the installed
package, so a new official release shows what is new here; ``CLAUDE_AGENT_SDK_VERSION``
must then be bumped, which is checked too.
"""

from __future__ import annotations

import dataclasses
import inspect
import types as pytypes
import typing
from typing import Any

import claude_agent_sdk as official
import claude_agent_sdk.types as official_types
import pytest
import typing_extensions

import threadline
import threadline.types as ours_types

# Names imported into claude_agent_sdk.types from elsewhere (not part of its API).
_NOT_API = {
    "sys", "warnings", "Awaitable", "Callable", "dataclass", "field", "replace", "Path",
    "TYPE_CHECKING", "Any", "Final", "Literal", "Protocol", "TypeAlias", "NotRequired",
    "Required", "TypedDict", "McpServer",
}  # fmt: skip

# Dataclasses whose fields may come in another order or with extra fields: threadline's
# options are keyword-only (documented in docs/porting.md), so order is not observable.
_UNORDERED = {"ClaudeAgentOptions"}

# Trailing fields threadline adds (documented): name -> extra field names.
_EXTRA_TRAILING = {"UserMessage": ["session_id"]}


def official_types_names() -> list[str]:
    return sorted(
        n
        for n, v in vars(official_types).items()
        if not n.startswith("_")
        and n not in _NOT_API
        and getattr(v, "__module__", "claude_agent_sdk.types") != "typing"
    )


def _is_typeddict(obj: Any) -> bool:
    return typing_extensions.is_typeddict(obj)


def kind(obj: Any) -> str:
    """A coarse kind both packages can be compared on."""
    if isinstance(obj, type):
        if issubclass(obj, Warning):
            return "warning"
        if issubclass(obj, BaseException):
            return "exception"
        if _is_typeddict(obj):
            return "TypedDict"
        if getattr(obj, "_is_protocol", False):
            return "Protocol"
        if dataclasses.is_dataclass(obj):
            return "dataclass"
        return "class"
    origin = typing.get_origin(obj)
    if origin is typing.Literal:
        return "Literal"
    if origin in (typing.Union, pytypes.UnionType):
        return "union"
    if origin is not None and origin.__module__ == "collections.abc":
        return f"alias[{origin.__name__}]"
    if origin is not None:
        return f"alias[{getattr(origin, '__name__', origin)}]"
    if inspect.isasyncgenfunction(obj):
        return "async generator function"
    if inspect.iscoroutinefunction(obj):
        return "async function"
    if inspect.isfunction(obj):
        return "function"
    return type(obj).__name__


def literal_values(obj: Any) -> set[Any]:
    """The values of a Literal, or of a union of Literals (``HookEvent``)."""
    if typing.get_origin(obj) is typing.Literal:
        return set(typing.get_args(obj))
    return {v for arg in typing.get_args(obj) for v in literal_values(arg)}


def member_names(obj: Any) -> list[str]:
    return sorted(getattr(a, "__name__", repr(a)) for a in typing.get_args(obj))


def default_of(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return "<required>"


def compare_dataclass(name: str, theirs: type, mine: type) -> list[str]:
    problems: list[str] = []
    t_fields = {f.name: f for f in dataclasses.fields(theirs)}
    m_fields = {f.name: f for f in dataclasses.fields(mine)}
    t_names, m_names = list(t_fields), list(m_fields)
    if name in _UNORDERED:
        missing = [n for n in t_names if n not in m_fields]
        if missing:
            problems.append(f"{name}: missing fields {missing}")
    else:
        expected = t_names + _EXTRA_TRAILING.get(name, [])
        if m_names != expected:
            problems.append(f"{name}: fields {m_names} != official {expected}")
    for n, f in t_fields.items():
        if n in m_fields:
            theirs_default, my_default = default_of(f), default_of(m_fields[n])
            # debug_stderr defaults to sys.stderr, whichever object that was at import time
            if theirs_default != my_default and n != "debug_stderr":
                problems.append(f"{name}.{n}: default {my_default!r} != {theirs_default!r}")
    return problems


def compare_typeddict(name: str, theirs: Any, mine: Any) -> list[str]:
    problems = []
    for attr in ("__required_keys__", "__optional_keys__"):
        t, m = set(getattr(theirs, attr)), set(getattr(mine, attr))
        if t != m:
            problems.append(f"{name}.{attr}: extra {sorted(m - t)}, missing {sorted(t - m)}")
    return problems


def params(fn: Any) -> list[tuple[str, str, Any]]:
    sig = inspect.signature(fn)
    return [(p.name, p.kind.name, p.default) for p in sig.parameters.values()]


def compare_params(name: str, theirs: Any, mine: Any) -> list[str]:
    """The official parameters, in order and with their defaults; extras only keyword-only."""
    t, m = params(theirs), params(mine)
    problems = []
    if m[: len(t)] != t:
        problems.append(f"{name}{inspect.signature(mine)} != official {inspect.signature(theirs)}")
    extra = [p for p in m[len(t) :] if p[1] != "KEYWORD_ONLY"]
    if extra:
        problems.append(f"{name}: extra parameters that are not keyword-only: {extra}")
    return problems


def compare_exception(name: str, theirs: type, mine: type) -> list[str]:
    problems = []
    for base in theirs.__mro__[1:]:
        if base in (Exception, BaseException, object):
            continue
        my_base = getattr(threadline, base.__name__, base)
        if not issubclass(mine, my_base):
            problems.append(f"{name} is not a subclass of {base.__name__}")
    if "__init__" in vars(theirs):
        problems += compare_params(f"{name}.__init__", theirs.__init__, mine.__init__)
    return problems


def compare(name: str, theirs: Any, mine: Any) -> list[str]:
    """Every difference between the official object and ours (empty: the same shape)."""
    if name == "__version__":
        return []  # threadline's own; the official one it follows is CLAUDE_AGENT_SDK_VERSION
    t_kind, m_kind = kind(theirs), kind(mine)
    if t_kind != m_kind:
        return [f"{name}: kind {m_kind} != official {t_kind}"]
    if t_kind == "dataclass":
        return compare_dataclass(name, theirs, mine)
    if t_kind == "TypedDict":
        return compare_typeddict(name, theirs, mine)
    if t_kind == "Literal":
        diff = literal_values(theirs) ^ literal_values(mine)
        return [f"{name}: Literal values differ: {sorted(map(str, diff))}"] if diff else []
    if t_kind == "union":
        if literal_values(theirs):
            diff = literal_values(theirs) ^ literal_values(mine)
            return [f"{name}: values differ: {sorted(map(str, diff))}"] if diff else []
        if member_names(theirs) != member_names(mine):
            return [f"{name}: members {member_names(mine)} != {member_names(theirs)}"]
        return []
    if t_kind in ("exception", "warning"):
        return compare_exception(name, theirs, mine)
    if t_kind.endswith("function"):
        return compare_params(name, theirs, mine)
    if t_kind.startswith("alias["):
        t_args, m_args = typing.get_args(theirs), typing.get_args(mine)
        if len(t_args) != len(m_args):
            return [f"{name}: alias arguments {m_args} != {t_args}"]
        return []
    if isinstance(theirs, frozenset):
        return [] if theirs == mine else [f"{name}: {sorted(mine)} != {sorted(theirs)}"]
    return []


def test_the_official_version_we_follow_is_installed() -> None:
    assert official.__version__ == threadline.CLAUDE_AGENT_SDK_VERSION, (
        "claude-agent-sdk changed: compare its new API (this file says what differs), "
        "then bump threadline.CLAUDE_AGENT_SDK_VERSION"
    )
    assert threadline.__version__ != official.__version__  # ours stays ours


@pytest.mark.parametrize("module", [threadline, ours_types], ids=["threadline", "threadline.types"])
def test_every_official_name_imports(module: Any) -> None:
    missing = [n for n in official.__all__ if not hasattr(module, n)]
    assert not missing, f"missing from {module.__name__}: {missing}"
    not_listed = [n for n in official.__all__ if n not in module.__all__]
    assert not not_listed, f"not in {module.__name__}.__all__: {not_listed}"


def test_every_official_types_name_imports_from_threadline_types() -> None:
    missing = [n for n in official_types_names() if not hasattr(ours_types, n)]
    assert not missing, missing
    assert set(official_types_names()) <= set(ours_types.__all__)


def test_one_object_per_name() -> None:
    """``threadline.X is threadline.types.X``: one class per concept, no copies."""
    different = [
        n for n in official.__all__ if getattr(threadline, n) is not getattr(ours_types, n)
    ]
    assert not different, different


@pytest.mark.parametrize("name", sorted(set(official.__all__) | set(official_types_names())))
def test_same_kind_and_shape(name: str) -> None:
    theirs = getattr(official, name, None)
    if theirs is None:
        theirs = getattr(official_types, name)
    mine = getattr(ours_types, name)
    assert compare(name, theirs, mine) == []


def test_the_comparison_can_fail() -> None:
    """The comparison notices the differences it is there to notice."""

    @dataclasses.dataclass
    class Short:
        subtype: str

    assert compare("SystemMessage", official.SystemMessage, Short)
    assert compare("TextBlock", official.TextBlock, threadline.ThinkingBlock)
    assert compare("PermissionMode", official.PermissionMode, typing.Literal["default"])
    assert compare("SessionKey", official.SessionKey, official.SessionListSubkeysKey)
    assert compare("ResultError", official.ResultError, threadline.ProcessError)
    assert compare("list_sessions", official.list_sessions, threadline.get_session_info)
    assert compare("Message", official.Message, threadline.ContentBlock)
    assert compare("HookEvent", official_types.HookEvent, typing.Literal["PreToolUse"])


def test_exceptions_catch_as_officially() -> None:
    """``except ClaudeSDKError`` catches every threadline error; the builtins where official."""
    assert issubclass(threadline.ThreadlineError, threadline.ClaudeSDKError)
    for name in threadline.__all__:
        obj = getattr(threadline, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning):
            assert issubclass(obj, threadline.ClaudeSDKError), name
            assert obj is threadline.ClaudeSDKError or issubclass(obj, threadline.ThreadlineError)
    assert issubclass(threadline.SessionNotFoundError, FileNotFoundError)
    assert issubclass(threadline.MessageNotFoundError, ValueError)
    assert issubclass(threadline.EmptySessionError, ValueError)
    assert issubclass(threadline.InvalidSessionIdError, ValueError)
    resume = threadline.ResumeNotFoundError
    assert issubclass(resume, threadline.SessionNotFoundError)
    assert issubclass(resume, threadline.ResultError)
    err = resume("00000000-0000-4000-8000-000000000000")
    assert err.subtype == "error_during_execution" and err.exit_code == 1
    assert err.errors == ["No conversation found with session ID: 00000000-0000-4000-8000-000000000000"]


def test_permission_update_wire_form_matches_official() -> None:
    from claude_agent_sdk.types import (
        PermissionRuleValue as TheirRule,
        PermissionUpdate as TheirUpdate,
    )

    cases = [
        ("addRules", {"rules": [("Bash", "npm test"), ("Read", None)], "behavior": "allow"}),
        ("replaceRules", {"rules": [("Edit", "src/**")], "behavior": "deny"}),
        ("setMode", {"mode": "acceptEdits", "destination": "localSettings"}),
        ("addDirectories", {"directories": ["/tmp/x"]}),
    ]
    for type_, kw in cases:
        their_kw = dict(kw)
        my_kw = dict(kw)
        if "rules" in kw:
            their_kw["rules"] = [TheirRule(t, c) for t, c in kw["rules"]]
            my_kw["rules"] = [ours_types.PermissionRuleValue(t, c) for t, c in kw["rules"]]
        theirs = TheirUpdate(type=type_, **their_kw).to_dict()
        mine = ours_types.PermissionUpdate(type=type_, **my_kw)
        assert mine.to_dict() == theirs
        assert ours_types.PermissionUpdate.from_dict(theirs).to_dict() == theirs
    for bad in (
        ours_types.PermissionUpdate(type="addRules"),
        ours_types.PermissionUpdate(type="setMode"),
        ours_types.PermissionUpdate(type="nope"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError):
            bad.to_dict()


def test_tool_annotations_take_both_spellings() -> None:
    a = threadline.ToolAnnotations(read_only_hint=True, maxResultSizeChars=500)
    assert a.readOnlyHint is True and a.read_only_hint is True
    assert a.max_result_size_chars == 500 and a.destructiveHint is None
    assert a.model_dump(exclude_none=True) == {"readOnlyHint": True, "maxResultSizeChars": 500}
    assert threadline.ToolAnnotations(readOnlyHint=True, read_only_hint=False).readOnlyHint
    theirs = official.ToolAnnotations(read_only_hint=True, maxResultSizeChars=500)
    assert {k for k, v in theirs.model_dump().items() if v is not None} == {
        "read_only_hint",
        "maxResultSizeChars",
    }
