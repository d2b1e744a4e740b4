"""Route tests over local files: sessions written by the real ``claude`` CLI, an official
SDK fork, and generated ones (an HTTP client on the ASGI app)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from .conftest import WebData, make_client


def _items(client: TestClient, sid: str, **params: Any) -> list[dict[str, Any]]:
    r = client.get(f"/api/sessions/{sid}/messages", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def _texts(items: list[dict[str, Any]]) -> list[str]:
    return [b["text"] for i in items for b in i.get("blocks", ()) if b.get("type") == "text"]


def test_info_is_read_only_without_csrf(client: TestClient) -> None:
    body = client.get("/api/info").json()
    assert body["writes"] is False and "csrf" not in body
    assert body["source"]["kind"] == "files"


def test_list_sorts_filters_and_pages(client: TestClient, web_data: WebData) -> None:
    body = client.get("/api/sessions", params={"limit": 500}).json()
    ids = [r["session_id"] for r in body["items"]]
    assert set(web_data.ids.values()) <= set(ids)
    stamps = [r["last_modified"] for r in body["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert body["total"] == len(ids)
    keys = {p["key"] for p in body["projects"]}
    assert "-tmp-web-generated" in keys

    tagged = client.get("/api/sessions", params={"tag": "oracle-tag"}).json()
    assert [r["session_id"] for r in tagged["items"]] == [web_data.ids["sdk_rename_tag"]]
    assert tagged["items"][0]["title"] == "Renamed By SDK"

    gen = client.get("/api/sessions", params={"project": "-tmp-web-generated", "sort": "title"}).json()
    assert {r["session_id"] for r in gen["items"]} == {web_data.ids["hostile"], web_data.ids["rich"]}

    page1 = client.get("/api/sessions", params={"limit": 3, "offset": 0}).json()["items"]
    page2 = client.get("/api/sessions", params={"limit": 3, "offset": 3}).json()["items"]
    assert [r["session_id"] for r in page1 + page2] == ids[:6]

    named = client.get("/api/sessions", params={"q": "named by flag"}).json()
    assert [r["session_id"] for r in named["items"]] == [web_data.ids["named"]]

    old = client.get("/api/sessions", params={"until": "2000-01-01"}).json()
    assert old["total"] == 0


def test_list_rejects_bad_parameters(client: TestClient) -> None:
    assert client.get("/api/sessions", params={"sort": "nope"}).status_code == 400
    assert client.get("/api/sessions", params={"limit": "x"}).status_code == 400
    assert client.get("/api/sessions", params={"limit": 100000}).status_code == 400
    assert client.get("/api/sessions", params={"since": "yesterday"}).status_code == 400


def test_unknown_and_invalid_sessions(client: TestClient) -> None:
    assert client.get("/api/sessions/not-a-uuid").status_code == 400
    r = client.get("/api/sessions/00000000-0000-4000-8000-000000000000/messages")
    assert r.status_code == 404 and "error" in r.json()
    assert client.get("/api/nothing/here").status_code == 404


def test_cli_subagent_is_linked_from_its_call(client: TestClient, web_data: WebData) -> None:
    sid = web_data.ids["subagent_fg"]
    info = client.get(f"/api/sessions/{sid}").json()
    [agent] = info["subagents"]
    items = _items(client, sid)
    calls = [b for i in items for b in i.get("blocks", ()) if b.get("type") == "tool_use"]
    [call] = [c for c in calls if c["name"] == "Agent"]
    assert call["subagent"] == agent["agent_id"]
    assert call["result"] is not None and "subagent fg done" in call["result"]["text"]
    # The tool-result entry is drawn beside its call, not as an item of its own.
    assert not any(i["kind"] == "user" and i["blocks"] and i["blocks"][0]["type"] == "tool_result" for i in items)
    sub = client.get(f"/api/sessions/{sid}/subagents/{agent['agent_id']}").json()
    assert "SUBTASK-FG please work" in _texts(sub["items"])
    assert "subagent fg done" in _texts(sub["items"])
    assert client.get(f"/api/sessions/{sid}/subagents/..%2F..%2Fx").status_code in (400, 404)
    assert client.get(f"/api/sessions/{sid}/subagents/nope").status_code == 404


def test_background_subagent_found_through_its_sidecar(client: TestClient, web_data: WebData) -> None:
    sid = web_data.ids["subagent_bg"]
    agents = client.get(f"/api/sessions/{sid}/subagents").json()["items"]
    assert len(agents) == 1 and agents[0]["description"] == "bg task"
    calls = [b for i in _items(client, sid) for b in i.get("blocks", ()) if b.get("type") == "tool_use"]
    assert any(c.get("subagent") == agents[0]["agent_id"] for c in calls)


def test_parallel_tool_calls_are_one_reply_with_both_results(client: TestClient, web_data: WebData) -> None:
    items = _items(client, web_data.ids["parallel_tools"])
    [reply] = [i for i in items if i["kind"] == "assistant" and any(b["type"] == "tool_use" for b in i["blocks"])]
    calls = [b for b in reply["blocks"] if b["type"] == "tool_use"]
    assert [json.loads(c["text"])["command"] for c in calls] == ["echo alpha", "echo beta"]
    assert [c["result"]["text"].strip() for c in calls] == ["alpha", "beta"]


def test_compaction_boundary_and_summary_are_marked(client: TestClient, web_data: WebData) -> None:
    items = _items(client, web_data.ids["compact"])
    kinds = [i["kind"] for i in items]
    b = kinds.index("compact_boundary")
    assert kinds[b + 1] == "compact_summary"
    assert items[b]["trigger"] == "manual" and items[b]["pre_tokens"] > items[b]["post_tokens"]
    texts = _texts(items)
    # The history before the compaction is part of the path (across logicalParentUuid).
    assert texts.index("compact turn one") < texts.index("after compact turn")


def test_thinking_is_a_block_of_its_own(client: TestClient, web_data: WebData) -> None:
    items = _items(client, web_data.ids["thinking"])
    blocks = [b for i in items for b in i.get("blocks", ())]
    assert {"type": "thinking", "text": "pondering deeply"} in blocks


def test_rich_session_images_checkpoints_and_errors(client: TestClient, web_data: WebData) -> None:
    sid = web_data.ids["rich"]
    items = _items(client, sid)
    assert items[0]["kind"] == "checkpoint" and items[0]["files"][0]["path"] == "src/app.py"
    read = next(b for i in items for b in i.get("blocks", ()) if b.get("name") == "Read")
    [img] = read["result"]["images"]
    r = client.get(f"/api/sessions/{sid}/image/{img['ref']}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG")
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    bash = next(b for i in items for b in i.get("blocks", ()) if b.get("name") == "Bash")
    assert bash["result"]["is_error"] is True
    # An SVG "image" is never served (it could carry script).
    svg = next(b for i in items for b in i.get("blocks", ()) if b.get("type") == "image" and b.get("media_type") == "image/svg+xml")
    assert "ref" not in svg
    uuid = next(i["uuid"] for i in items if i["kind"] == "user" and len(i["blocks"]) == 2)
    assert client.get(f"/api/sessions/{sid}/image/{uuid}/1").status_code == 404
    assert any(b.get("type") == "other" and b["raw_type"] == "mystery_block" for i in items for b in i.get("blocks", ()))
    assert any(i["kind"] == "system" and i["text"] == "a system note" for i in items)


def test_paging_and_around(client: TestClient, web_data: WebData) -> None:
    sid = web_data.ids["compact"]
    whole = _items(client, sid)
    first = client.get(f"/api/sessions/{sid}/messages", params={"limit": 3}).json()
    second = client.get(f"/api/sessions/{sid}/messages", params={"limit": 3, "offset": 3, "v": first["version"]}).json()
    assert first["items"] + second["items"] == whole[:6]
    assert first["total"] == len(whole)
    target = whole[7]["uuid"]
    around = client.get(f"/api/sessions/{sid}/messages", params={"limit": 3, "around": target}).json()
    assert around["offset"] == 6 and around["focus"] == 7
    last = client.get(f"/api/sessions/{sid}/messages", params={"limit": 5, "page": "last"}).json()
    assert last["items"] == whole[(len(whole) - 1) // 5 * 5 :]


def test_in_file_branches_make_a_tree(client: TestClient, web_data: WebData) -> None:
    sid = web_data.ids["branch"]
    tree = client.get(f"/api/sessions/{sid}/tree").json()
    root = tree["segments"][0]
    assert len(root["children"]) == 2 and root["end_uuid"] == web_data.notes["branch_at"]
    leaves = [s for s in tree["segments"] if s["leaf"]]
    assert sorted(s["first_text"] for s in leaves) == ["branch turn alternative", "branch turn two"]
    assert [s["first_text"] for s in leaves if s["on_default"]] == ["branch turn alternative"]
    # Each node links to its path: the other branch reads to "branch turn two".
    other = next(s for s in leaves if not s["on_default"])
    texts = _texts(_items(client, sid, leaf=other["end_uuid"]))
    assert texts == ["branch turn one", "echo: branch turn one", "branch turn two", "echo: branch turn two"]
    # The official SDK fork (forkedFrom) hangs off the branch point it copied up to.
    forks = [f for s in tree["segments"] for f in s["forks"]]
    assert [(f["session_id"], f["how"], f["from_message"]) for f in forks] == [
        (web_data.ids["sdk_fork"], "forkedFrom", web_data.notes["branch_at"])
    ]
    assert root["forks"] and root["forks"][0]["title"] == "SDK fork of branch"


def test_parallel_tools_do_not_branch(client: TestClient, web_data: WebData) -> None:
    tree = client.get(f"/api/sessions/{web_data.ids['parallel_tools']}/tree").json()
    assert len(tree["segments"]) == 1 and tree["segments"][0]["leaf"]


def test_cli_fork_is_found_both_ways(client: TestClient, web_data: WebData) -> None:
    source, fork = web_data.ids["resume"], web_data.ids["cli_fork"]
    tree = client.get(f"/api/sessions/{source}/tree").json()
    forks = [f for s in tree["segments"] for f in s["forks"]]
    assert [(f["session_id"], f["how"]) for f in forks] == [(fork, "shared-uuids")]
    back = client.get(f"/api/sessions/{fork}/tree").json()
    assert back["origin"]["session_id"] == source and back["origin"]["how"] == "shared-uuids"
    sdk = client.get(f"/api/sessions/{web_data.ids['sdk_fork']}/tree").json()
    assert sdk["origin"] == {
        "session_id": web_data.ids["branch"], "how": "forkedFrom", "title": None,
        "from_message": web_data.notes["branch_at"],
    }


def test_diff_of_two_in_file_branches(client: TestClient, web_data: WebData) -> None:
    sid = web_data.ids["branch"]
    tree = client.get(f"/api/sessions/{sid}/tree").json()
    a, b = (s["end_uuid"] for s in tree["segments"] if s["leaf"])
    d = client.get("/api/diff", params={"a": sid, "a_leaf": a, "b_leaf": b}).json()
    assert d["ancestor"]["a"] == web_data.notes["branch_at"]
    assert _texts(d["common"]["tail"]) == ["branch turn one", "echo: branch turn one"]
    assert _texts(d["left"]) == ["branch turn two", "echo: branch turn two"]
    assert _texts(d["right"]) == ["branch turn alternative", "echo: branch turn alternative"]


def test_diff_across_forks(client: TestClient, web_data: WebData) -> None:
    d = client.get("/api/diff", params={"a": web_data.ids["resume"], "b": web_data.ids["cli_fork"]}).json()
    assert d["left"] == [] and _texts(d["right"]) == ["forked turn", "echo: forked turn"]
    assert d["common"]["count"] == 4
    # The SDK fork renamed every uuid; forkedFrom maps them back.
    d = client.get("/api/diff", params={"a": web_data.ids["branch"], "b": web_data.ids["sdk_fork"]}).json()
    assert _texts(d["left"]) == ["branch turn alternative", "echo: branch turn alternative"]
    assert d["right"] == [] and d["common"]["count"] == 2
    assert client.get("/api/diff").status_code == 400


def test_search_with_highlighted_snippets(client: TestClient, web_data: WebData) -> None:
    body = client.get("/api/search", params={"q": "alternative"}).json()
    hits = body["hits"]
    assert {h["session_id"] for h in hits} >= {web_data.ids["branch"]}
    hit = next(h for h in hits if h["session_id"] == web_data.ids["branch"])
    assert ["alternative", True] in hit["snippet"]
    assert "".join(t for t, _ in hit["snippet"]).endswith("branch turn alternative")
    assert client.get("/api/search").status_code == 400
    assert client.get("/api/search", params={"q": "   "}).status_code == 400


def test_usage_per_turn(client: TestClient, web_data: WebData) -> None:
    u = client.get(f"/api/sessions/{web_data.ids['resume']}/usage").json()
    assert [t["prompt"] for t in u["turns"]] == ["resume turn one", "resume turn two"]
    assert all(t["requests"] == 1 and t["input"] > 0 and t["cost"] > 0 for t in u["turns"])
    assert u["totals"]["requests"] == 2 and u["reported_cost"] > 0
    sub = client.get(f"/api/sessions/{web_data.ids['subagent_fg']}/usage").json()
    assert sub["subagents"] and sub["subagents"][0]["requests"] >= 1
    rich = client.get(f"/api/sessions/{web_data.ids['rich']}/usage").json()
    assert rich["totals"]["cache_read"] == 1000 * rich["totals"]["requests"]


def test_raw_entry(client: TestClient, web_data: WebData) -> None:
    sid = web_data.ids["single"]
    items = _items(client, sid)
    r = client.get(f"/api/sessions/{sid}/entries/{items[0]['uuid']}")
    assert r.status_code == 200 and r.json()["message"]["content"] == "hello single turn"
    assert client.get(f"/api/sessions/{sid}/entries/nope").status_code == 404


def test_hostile_text_comes_back_verbatim_as_json(client: TestClient, web_data: WebData) -> None:
    from ._sessions import XSS

    items = _items(client, web_data.ids["hostile"])
    assert XSS in _texts(items)
    assert client.get(f"/api/sessions/{web_data.ids['hostile']}/messages").headers["content-type"] == "application/json"


def test_pages_and_static_assets(client: TestClient, web_data: WebData) -> None:
    for path in ("/", f"/s/{web_data.ids['single']}", f"/s/{web_data.ids['single']}/tree", "/diff", "/trash"):
        r = client.get(path)
        assert r.status_code == 200 and "<script type=\"module\" src=\"/static/app.js\">" in r.text
    js = client.get("/static/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "innerHTML" not in js.text and "eval(" not in js.text
    assert client.get("/static/../_app.py").status_code == 404


def test_trash_listing_when_empty(client: TestClient) -> None:
    assert client.get("/api/trash").json() == {"supported": True, "items": []}


def test_index_is_used_and_new_files_show_up(writable_config: Path) -> None:
    from ._sessions import Writer

    with make_client(writable_config) as c:
        before = c.get("/api/sessions").json()["total"]
        w = Writer()
        w.user("a session written while the page is open")
        w.text("ok")
        w.write(writable_config)
        after = c.get("/api/sessions").json()
        assert after["total"] == before + 1
        assert after["items"][0]["session_id"] == w.sid


def test_resume_leaf_matches_the_chain_builders_leaf(web_data: WebData) -> None:
    from threadline.transcript._chain import (
        build_conversation_chain_and_leaf,
        chain_entries,
        resume_leaf,
    )
    from threadline.transcript._jsonl import iter_objects

    files = sorted(web_data.config.glob("projects/*/*.jsonl")) + sorted(
        web_data.config.glob("projects/*/*/subagents/*.jsonl")
    )
    assert len(files) > 10
    for path in files:
        entries = chain_entries(iter_objects(path.read_bytes()))
        _, leaf = build_conversation_chain_and_leaf(entries)
        assert resume_leaf(entries) == (leaf["uuid"] if leaf else None), path


def test_list_leaves_out_a_project_folder_no_key_can_name(tmp_path: Path) -> None:
    """A folder under ``projects/`` whose name is not valid UTF-8 (made by another program)
    failed the whole session list (500: its name, the row's project key, cannot be JSON)."""
    from sessions._factory import sessions_in_an_undecodable_folder  # (rootdir on sys.path)

    config = tmp_path / "config"
    plain, _odd = sessions_in_an_undecodable_folder(config, tmp_path)
    with make_client(config) as client:
        response = client.get("/api/sessions")
        assert response.status_code == 200, response.text
        assert [r["session_id"] for r in response.json()["items"]] == [plain.session_id]
