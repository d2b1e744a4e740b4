"""The rule language and the shell reading behind it, one decision at a time.

Expected values come from Claude Code's permission documentation and from the bundled CLI
(2.1.330) run offline on the same commands (see ``test_permission_oracle.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.runtime._bashperm import BashRules, bash_verdict, match_bash_specifier
from threadline.runtime._confine import PathRule, WorkingDirs, resolve_path
from threadline.runtime._permissions import PermissionPolicy, PermissionRules
from threadline.runtime._shell import analyze


@pytest.mark.parametrize(
    ("spec", "command", "expected"),
    [
        ("npm run test:*", "npm run test", True),
        ("npm run test:*", "npm run test -- --watch", True),
        ("npm run test:*", "npm run testx", False),
        ("npm run build", "npm run build", True),
        ("npm run build", "npm run build --prod", False),
        ("ls *", "ls", True),
        ("ls *", "ls -la", True),
        ("ls *", "lsof", False),
        ("ls*", "lsof", True),
        ("git * main", "git checkout main", True),
        ("git * main", "git checkout dev", False),
        ("* install", "npm install", True),
        ("npm  run   test:*", "npm run test  --x", True),
        ("*", "anything at all", True),
    ],
)
def test_bash_specifier(spec: str, command: str, expected: bool) -> None:
    assert match_bash_specifier(spec, command) is expected


def test_analysis_finds_every_command() -> None:
    found = analyze("a; b && c || d | e $(f) `g` <(h) >(i); (j); { k; }; if l; then m; fi")
    names = [c.name for c in found.commands]
    assert sorted(n for n in names if n) == list("abcdefghijklm")
    assert found.nested and not found.background and found.error is None


@pytest.mark.parametrize(
    ("command", "argv0"),
    [
        ("t\\ouch x", "touch"),
        ("'touch' x", "touch"),
        ('t"ouch" x', "touch"),
        ("$'\\x74ouch' x", "touch"),
    ],
)
def test_quote_removal(command: str, argv0: str) -> None:
    assert analyze(command).commands[0].name == argv0


@pytest.mark.parametrize(
    "command", ['echo "unterminated', "ls (", "if true", "echo hi)", "ls\x00rm"]
)
def test_unparseable_commands_ask(command: str, tmp_path: Path) -> None:
    verdict = bash_verdict(command, BashRules(allow=["*"]), "default", WorkingDirs(tmp_path))
    assert analyze(command).error is not None
    assert verdict.behavior == "ask"


def test_unparseable_command_still_meets_deny_rules(tmp_path: Path) -> None:
    verdict = bash_verdict(
        'rm -rf x; echo "', BashRules(deny=["rm:*"]), "bypassPermissions", WorkingDirs(tmp_path)
    )
    assert verdict.behavior == "deny"


def test_brace_expansion_is_not_a_static_word(tmp_path: Path) -> None:
    # ``{touch,X}`` runs ``touch X``: neither an allow rule nor read-only may take it at face value
    dirs = WorkingDirs(tmp_path)
    assert (
        bash_verdict("{touch,X}", BashRules(allow=["{touch,X}"]), "default", dirs).behavior == "ask"
    )


@pytest.mark.parametrize(
    ("command", "behavior"),
    [
        ("ls", "allow"),
        ("cat a.txt | grep x | wc -l", "allow"),
        ("find . -name '*.py'", "allow"),
        ("find . -delete", "ask"),
        ("sort -o out a.txt", "ask"),
        ("sort -uo out a.txt", "ask"),
        ("git log --oneline", "allow"),
        ("git branch newbranch", "ask"),
        ("git diff --output=x", "ask"),
        ("sed -n 1p a.txt", "allow"),
        ("sed -i s/a/b/ a.txt", "ask"),
        ("command -v ls", "ask"),
        ("FOO=1 ls", "ask"),
        ("PATH=/tmp; ls", "ask"),
        ("ls &", "ask"),
        ("echo $(pwd)", "ask"),
        ("cd .. && ls", "ask"),
        ("cat ../x", "ask"),
        ("cat /etc/passwd", "ask"),
        ("grep -r root /etc", "ask"),
        ("grep /etc a.txt", "allow"),
        ("echo hi > /dev/null 2>&1", "allow"),
        ("echo hi > out.txt", "ask"),
        ("wc -l < /etc/passwd", "ask"),
        ("$CMD arg", "ask"),
    ],
)
def test_read_only_classification(command: str, behavior: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    assert bash_verdict(command, BashRules(), "default", WorkingDirs(project)).behavior == behavior


def test_cd_into_a_link_out_of_the_project_is_outside(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "out").symlink_to(tmp_path)
    dirs = WorkingDirs(project)
    assert bash_verdict("cat out/secret", BashRules(), "default", dirs).behavior == "ask"
    assert bash_verdict("cd out", BashRules(), "default", dirs).behavior == "ask"


@pytest.mark.parametrize(
    ("content", "path", "expected"),
    [
        ("src/**", "src/a/b.py", True),
        ("src/**", "lib/a.py", False),
        ("*.env", "deep/dir/.env", True),
        ("*.txt", "/elsewhere/x.txt", False),
        ("/src/*.ts", "src/a.ts", True),
        ("/src/*.ts", "src/x/a.ts", False),
        ("./secrets/**", "secrets/k", True),
        ("//etc/**", "/etc/passwd", True),
        ("//etc/**", "etc/passwd", False),
        ("~/.ssh/**", "~/.ssh/id_rsa", True),
    ],
)
def test_path_rule_anchors(content: str, path: str, expected: bool, tmp_path: Path) -> None:
    cwd = str(tmp_path / "project")
    rule = PathRule(content, cwd=cwd)
    resolved = resolve_path(path, cwd)
    assert rule.matches_any(resolved) is expected


def test_policy_edit_rule_applies_to_write_and_read_rule_to_grep(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    policy = PermissionPolicy(
        rules=PermissionRules(allowed=["Edit(docs/**)"], disallowed=["Read(*.key)"]),
        mode="default",
        cwd=project,
    )
    write = policy.decide("Write", {"file_path": "docs/a.md", "content": ""}, read_only=False)
    assert write.behavior == "allow"
    grep = policy.decide("Grep", {"pattern": "x", "path": "k/server.key"}, read_only=True)
    assert grep.behavior == "deny"


def test_add_directories_hook(tmp_path: Path) -> None:
    project, extra = tmp_path / "project", tmp_path / "extra"
    project.mkdir()
    extra.mkdir()
    policy = PermissionPolicy(rules=PermissionRules(), mode="acceptEdits", cwd=project)
    call = {"file_path": str(extra / "x"), "content": ""}
    assert policy.decide("Write", call, read_only=False).behavior == "ask"
    policy.add_directories([extra])
    assert policy.decide("Write", call, read_only=False).behavior == "allow"


def test_web_fetch_domain_rule(tmp_path: Path) -> None:
    policy = PermissionPolicy(
        rules=PermissionRules(allowed=["WebFetch(domain:example.com)"]),
        mode="default",
        cwd=tmp_path,
    )
    assert (
        policy.decide("WebFetch", {"url": "https://example.com/x"}, read_only=False).behavior
        == "allow"
    )
    assert (
        policy.decide("WebFetch", {"url": "https://evil.test/x"}, read_only=False).behavior == "ask"
    )
