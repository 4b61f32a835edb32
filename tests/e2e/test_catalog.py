"""`prov captures list`, `captures list --url` and `captures find` through the command line:
a case of three snapshots on a local server (a page that changes, a failed fetch, a note),
and the JSON listings byte for byte against the golden case (docs/FORMATS.md, "Capture
listings")."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import make_case, prov_env, run_prov
from servers import LocalServer, response

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
GOLDEN_URL = "https://example.org/article"
REFUSED = "http://127.0.0.1:1/gone"


@dataclass
class Listed:
    case: Path
    env: dict[str, str]
    server: LocalServer
    ids: list[str]

    def prov(self, *args: str) -> Any:
        return run_prov(*args, "--case", str(self.case), env=self.env)

    def json(self, *args: str) -> Any:
        proc = self.prov(*args, "--json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


def _page(text: bytes) -> bytes:
    return response(b"200 OK", [(b"Content-Type", b"text/html")], b"<p>" + text + b"</p>")


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listed]:
    tmp = tmp_path_factory.mktemp("catalog")
    case, _ = make_case(tmp)
    env = prov_env(tmp)
    with LocalServer() as server:
        ids = []
        server.add_route("/post", _page(b"I will not accept"))
        runs = [("--note", "first visit", server.url("/post"), server.url("/404")),
                ("--retries", "0", server.url("/post"), REFUSED),
                ("--note", "after the edit", server.url("/post"))]
        for number, args in enumerate(runs):
            if number == 2:
                server.add_route("/post", _page(b"I accept"))
            proc = run_prov("snapshot", "--case", str(case), "--json", "--tsa", "none", *args,
                            env=env)
            assert proc.returncode == (5 if REFUSED in args else 0), proc.stderr
            ids.append(json.loads(proc.stdout)["captureId"])
        yield Listed(case, env, server, ids)


def test_list_shows_each_capture_with_its_note_and_urls(listed: Listed) -> None:
    rows = listed.json("captures", "list")
    assert [r["captureId"] for r in rows] == listed.ids
    first, failed, last = rows
    assert (first["note"], failed["note"], last["note"]) == ("first visit", None,
                                                             "after the edit")
    post, missing = listed.server.url("/post"), listed.server.url("/404")
    assert [(s["url"], s["status"]) for s in first["seeds"]] == [(post, 200), (missing, 404)]
    assert [(s["url"], s["status"], s["payloadDigest"]) for s in failed["seeds"]][1] == (
        REFUSED, None, None)
    assert first["seeds"][0]["payloadDigest"] != last["seeds"][0]["payloadDigest"]
    assert all(r["unreadable"] is None and r["otherUrls"] == 0 for r in rows)
    text = listed.prov("captures", "list")
    assert text.returncode == 0, text.stderr
    assert "    note: first visit\n" in text.stdout
    assert f"    200\t{post}\n" in text.stdout and f"    404\t{missing}\n" in text.stdout
    assert f"    no answer\t{REFUSED}\n" in text.stdout


def test_find_lists_every_capture_of_a_url_newest_first(listed: Listed) -> None:
    post = listed.server.url("/post")
    rows = listed.json("captures", "find", post)
    assert [r["captureId"] for r in rows] == listed.ids[::-1]
    assert {(r["url"], r["recordType"], r["status"]) for r in rows} == {(post, "response", 200)}
    assert [r["loggedAt"] for r in rows] == sorted((r["loggedAt"] for r in rows), reverse=True)
    assert rows[0]["payloadDigest"] != rows[2]["payloadDigest"]
    assert rows[1]["payloadDigest"] == rows[2]["payloadDigest"]  # unchanged then
    assert all(r["file"].endswith(".warc.gz") and r["offset"] > 0 for r in rows)
    text = listed.prov("captures", "find", post).stdout.splitlines()
    assert [line.split("\t")[1] for line in text] == listed.ids[::-1]
    assert text[0].split("\t")[2:] == ["200", rows[0]["payloadDigest"], post]


def test_list_url_matches_a_glob_or_part_of_a_url(listed: Listed) -> None:
    post = listed.server.url("/post")
    found = listed.json("captures", "find", post)
    assert listed.json("captures", "list", "--url", "*/post") == found
    assert listed.json("captures", "list", "--url", "/post") == found
    both = listed.json("captures", "list", "--url", f"{listed.server.origin()}/*")
    assert {r["url"] for r in both} == {post, listed.server.url("/404")}
    assert listed.json("captures", "list", "--url", "*/nothing-here*") == []


def test_a_failed_fetch_is_listed_with_its_error(listed: Listed) -> None:
    [row] = listed.json("captures", "find", REFUSED)
    assert (row["captureId"], row["recordType"], row["status"]) == (listed.ids[1], "failed", None)
    assert row["error"] and row["file"] is None
    line = listed.prov("captures", "find", REFUSED).stdout
    assert line.startswith(f"{row['loggedAt']}\t{listed.ids[1]}\tfailed\t")


def test_find_of_an_unknown_url_says_so_and_exits_0(listed: Listed) -> None:
    proc = listed.prov("captures", "find", "http://example.invalid/")
    assert (proc.returncode, proc.stdout) == (0, "")
    assert "no capture holds http://example.invalid/" in proc.stderr
    assert listed.json("captures", "find", "http://example.invalid/") == []


def test_show_prints_the_note(listed: Listed) -> None:
    proc = listed.prov("captures", "show", listed.ids[0])
    assert proc.returncode == 0, proc.stderr
    assert "note      first visit\n" in proc.stdout


def test_a_capture_whose_files_are_gone_is_listed_as_unreadable(listed: Listed,
                                                                tmp_path: Path) -> None:
    copy = tmp_path / "case"
    shutil.copytree(listed.case, copy)
    first = listed.json("captures", "list")[0]
    shutil.rmtree(copy / first["captureDir"])
    proc = run_prov("captures", "list", "--json", "--case", str(copy), env=listed.env)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)[0]
    assert row["unreadable"] == "seal.dsse.json: missing" and row["seeds"] == []
    assert len(json.loads(run_prov("captures", "find", listed.server.url("/post"), "--json",
                                   "--case", str(copy), env=listed.env).stdout)) == 2


@pytest.mark.parametrize(("args", "golden"), [
    (("captures", "list"), "captures-list.json"),
    (("captures", "find", GOLDEN_URL), "captures-find.json"),
    (("captures", "list", "--url", "example.org"), "captures-find.json"),
])
def test_json_listings_match_the_golden_files(args: tuple[str, ...], golden: str,
                                              tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(GOLDEN / "case", case)
    proc = run_prov(*args, "--json", "--case", str(case), env=prov_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.encode() == (GOLDEN / golden).read_bytes()
