"""``sessions show --tree`` on long sessions: no recursion limit, parallel calls not branches."""

from __future__ import annotations

import json
from pathlib import Path

from ._transcripts import conversation, entry, new_id, write_session
from .conftest import invoke


def test_tree_of_a_20000_entry_session(project: Path, config_dir: Path) -> None:
    sid = new_id()
    entries = conversation(sid, str(project), 3334, parallel=True)  # 6 entries a turn
    assert len(entries) >= 20_000
    # One real branch: a second prompt off the answer of turn 100 (a rewind).
    answer_100 = entries[6 * 100 + 5]
    entries.append(entry("user", sid, answer_100["uuid"], "another way", cwd=str(project)))
    write_session(config_dir, str(project), entries, sid)

    result = invoke("sessions", "show", sid, "--tree", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["branch_points"] == [answer_100["uuid"]]  # parallel calls are not branches
    assert sorted(data["leaves"]) == sorted([entries[-2]["uuid"], entries[-1]["uuid"]])
    assert len(data["segments"]) == 3
    (root,) = data["roots"]
    assert root["messages"] == 6 * 101 and len(root["children"]) == 2

    drawn = invoke("sessions", "show", sid[:8], "--tree")
    assert drawn.exit_code == 0, drawn.stderr
    assert drawn.stdout.count("● leaf") == 2 and drawn.stdout.count("branches at") == 1
    assert len(drawn.stdout.splitlines()) == 4
    stats = json.loads(invoke("sessions", "stats", sid, "--json").stdout)
    assert stats["leaves"] == 2 and stats["entries"] == len(entries)


def test_deeply_nested_real_branches(project: Path, config_dir: Path) -> None:
    """3 000 nested rewinds: drawn and dumped without recursion, JSON nesting capped."""
    sid = new_id()
    entries = []
    parent = None
    for i in range(3000):
        prompt = entry("user", sid, parent, f"p{i}", cwd=str(project))
        answer = entry(
            "assistant", sid, prompt["uuid"], [{"type": "text", "text": "a"}], cwd=str(project)
        )
        dead_end = entry("user", sid, answer["uuid"], f"abandoned {i}", cwd=str(project))
        entries += [prompt, answer, dead_end]
        parent = answer["uuid"]
    write_session(config_dir, str(project), entries, sid)
    result = invoke("sessions", "show", sid, "--tree", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["branch_points"]) == 2999 and len(data["leaves"]) == 3000
    drawn = invoke("sessions", "show", sid, "--tree")
    assert drawn.exit_code == 0 and drawn.stdout.count("● leaf") == 3000
    # indentation stops growing: no line is wider than the cap allows
    assert max(len(line) for line in drawn.stdout.splitlines()) < 300
