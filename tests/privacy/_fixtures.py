"""Realistic FAKE credentials (generated per run, never real) and transcripts that leak them."""

from __future__ import annotations

import random
import string
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


def _r(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def fake_credentials(seed: int = 7) -> dict[str, str]:
    """One fake credential per built-in rule, shaped like the real thing."""
    rng = random.Random(seed)
    return {
        "anthropic": "sk-ant-api03-" + _r(rng, 93, ALNUM + "-_") + "AA",
        "openai-project": "sk-proj-" + _r(rng, 120, ALNUM + "-_"),
        "openai-legacy": "sk-" + _r(rng, 20) + "T3BlbkFJ" + _r(rng, 20),
        "aws-key-id": "AKIA" + _r(rng, 16, UPPER),
        "aws-session-key-id": "ASIA" + _r(rng, 16, UPPER),
        "aws-secret": _r(rng, 40, ALNUM + "/+"),
        "github-classic": "ghp_" + _r(rng, 36),
        "github-app": "ghs_" + _r(rng, 36),
        "github-oauth": "gho_" + _r(rng, 36),
        "github-fine": "github_pat_" + _r(rng, 22) + "_" + _r(rng, 59),
        "slack-bot": "xoxb-" + _r(rng, 12, string.digits) + "-" + _r(rng, 13, string.digits) + "-" + _r(rng, 24),
        "slack-user": "xoxp-" + _r(rng, 12, string.digits) + "-" + _r(rng, 24),
        "stripe-secret": "sk_live_" + _r(rng, 24),
        "stripe-restricted": "rk_live_" + _r(rng, 24),
        "pem-body": _r(rng, 64, ALNUM + "+/"),
        "bearer": "eyJ" + _r(rng, 40, ALNUM + "-_") + "." + _r(rng, 30, ALNUM + "-_"),
        "basic": _r(rng, 28, ALNUM + "+/") + "==",
        "url-password": "pw" + _r(rng, 14),
        "env-api-key": _r(rng, 32),
        "env-password": _r(rng, 18),
        "env-quoted": _r(rng, 12) + " " + _r(rng, 8),
        "field-secret": _r(rng, 24),
        "google": "AIza" + _r(rng, 35, ALNUM + "-_"),
        "gitlab": "glpat-" + _r(rng, 20),
    }


def rule_examples(c: dict[str, str]) -> list[tuple[str, str]]:
    """(text, rule): at least one example per built-in rule, as a user or a tool would write it."""
    rng = random.Random(11)
    return [
        (f"key {c['anthropic']} end", "anthropic-api-key"),
        (f"key {c['openai-project']} end", "openai-api-key"),
        (f"key {c['openai-legacy']} end", "openai-api-key"),
        (f"id {c['aws-key-id']} end", "aws-access-key-id"),
        (f"id {c['aws-session-key-id']}", "aws-access-key-id"),
        (f"aws_secret_access_key = {c['aws-secret']}\n", "aws-secret-access-key"),
        (f'"SecretAccessKey": "{c["aws-secret"]}"', "aws-secret-access-key"),
        (c["github-classic"], "github-token"),
        (c["github-fine"], "github-token"),
        (c["slack-bot"], "slack-token"),
        ("https://hooks.slack.com/services/T0" + _r(rng, 9, UPPER) + "/B0" + _r(rng, 9, UPPER) + "/" + _r(rng, 24), "slack-webhook"),
        (c["stripe-secret"], "stripe-key"),
        (c["stripe-restricted"], "stripe-key"),
        (pem(c["pem-body"]), "private-key"),
        (f"Authorization: Bearer {c['bearer']}", "bearer-token"),
        (f"authorization: basic {c['basic']}", "authorization-header"),
        (f"git clone https://me:{c['url-password']}@github.com/x/y", "url-password"),
        (f"API_KEY={c['env-api-key']}", "env-secret"),
        (f"  export DB_PASSWORD='{c['env-password']}'", "env-secret"),
        (c["google"], "google-api-key"),
        (c["gitlab"], "gitlab-token"),
        ("hf_" + _r(rng, 34), "huggingface-token"),
        ("npm_" + _r(rng, 36), "npm-token"),
    ]


def pem(body: str) -> str:
    lines = [body[i : i + 32] for i in range(0, len(body), 32)]
    return "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END OPENSSH PRIVATE KEY-----\n"


def leaky_session(creds: dict[str, str], sid: str | None = None) -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
    """(session id, main entries, subagent entries): prompts, tool calls, tool output, files."""
    sid = sid or str(uuid.uuid4())
    c = creds
    env_file = (
        f"# production\nAPI_KEY={c['env-api-key']}\nexport DB_PASSWORD={c['env-password']}\n"
        f"SMTP_PASS=\"{c['env-quoted']}\"\nDATABASE_URL=postgres://admin:{c['url-password']}@db.internal:5432/app\n"
        f"SLACK_BOT={c['slack-bot']}\nDEBUG=true\n"
    )
    entries: list[dict[str, Any]] = []
    parent: str | None = None

    def add(kind: str, **fields: Any) -> dict[str, Any]:
        nonlocal parent
        e: dict[str, Any] = {
            "parentUuid": parent,
            "isSidechain": False,
            "type": kind,
            "uuid": str(uuid.uuid4()),
            "timestamp": f"2026-05-01T10:00:{len(entries):02d}.000Z",
            "cwd": "/home/dev/app",
            "sessionId": sid,
            **fields,
        }
        entries.append(e)
        parent = e["uuid"]
        return e

    add("user", message={"role": "user", "content": (
        "The quick onyx goblin deploys. Use my Anthropic key " + c["anthropic"] + " and OpenAI "
        + c["openai-project"] + " (old one: " + c["openai-legacy"] + "). AWS: " + c["aws-key-id"]
        + " aws_secret_access_key=" + c["aws-secret"] + " session " + c["aws-session-key-id"]
    )})
    add("assistant", message={"role": "assistant", "id": "msg_1", "content": [{
        "type": "tool_use", "id": "toolu_1", "name": "Bash",
        "input": {"command": f"curl -H 'Authorization: Bearer {c['bearer']}' https://api.example.com/v1",
                  "env": {"GITHUB_TOKEN": c["github-classic"], "api_key": c["field-secret"]}},
    }]})
    add("user", message={"role": "user", "content": [{
        "type": "tool_result", "tool_use_id": "toolu_1", "content": "cat .env\n" + env_file,
    }]}, toolUseResult={"stdout": env_file, "stderr": "", "interrupted": False},
        sourceToolAssistantUUID=parent)
    add("assistant", message={"role": "assistant", "id": "msg_2", "content": [{
        "type": "tool_use", "id": "toolu_2", "name": "Write",
        "input": {"file_path": "/home/dev/.ssh/id_ed25519", "content": pem(c["pem-body"])},
    }]})
    add("user", message={"role": "user", "content": [{
        "type": "tool_result", "tool_use_id": "toolu_3", "content": [{"type": "text", "text": (
            "config.yml:\n  stripe: " + c["stripe-secret"] + "\n  stripe_restricted: " + c["stripe-restricted"]
            + "\n  google: " + c["google"] + "\n  gitlab: " + c["gitlab"]
            + "\nAuthorization: Basic " + c["basic"]
        )}],
    }]}, toolUseResult={"type": "text", "file": {"filePath": "/app/config.yml", "content": c["stripe-secret"]}})
    add("assistant", message={"role": "assistant", "id": "msg_3", "content": [
        {"type": "text", "text": "Pushed with " + c["github-fine"] + " and " + c["github-app"] + ", " + c["github-oauth"]},
    ]})
    entries.append({"type": "custom-title", "customTitle": "deploy " + c["slack-user"], "sessionId": sid})
    entries.append({"type": "last-prompt", "lastPrompt": "key " + c["anthropic"], "sessionId": sid})
    sub: list[dict[str, Any]] = [
        {"type": "agent_metadata", "agentType": "general", "description": "check " + c["openai-project"]},
        {"type": "user", "uuid": str(uuid.uuid4()), "parentUuid": None, "isSidechain": True,
         "message": {"role": "user", "content": "token " + c["github-classic"]}},
    ]
    return sid, entries, sub


def secret_values(creds: dict[str, str]) -> list[str]:
    """The substrings that must never be stored (the PEM body is checked line by line)."""
    out = [v for k, v in creds.items() if k != "pem-body"]
    body = creds["pem-body"]
    out += [body[i : i + 32] for i in range(0, len(body), 32)]
    out.append(creds["env-quoted"].split(" ")[0])
    return out


def all_bytes(root: Path) -> bytes:
    """Every byte of every file under ``root``."""
    return b"\n".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def strings_in(obj: Any) -> Iterable[str]:
    """Every string anywhere in ``obj`` (dict keys, values, attributes of plain objects)."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            yield from strings_in(v)
    elif hasattr(obj, "__slots__"):
        for name in obj.__slots__:
            yield from strings_in(getattr(obj, name, None))
    elif hasattr(obj, "__dict__"):
        yield from strings_in(vars(obj))
