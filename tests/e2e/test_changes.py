"""Change and takedown detection, `prov diff` and `--on-change`, against a real local server.

One case watches a set of pages; between runs the test edits one, changes a requisite of
another, and takes the rest down in each of the ways the detector knows (404, 410, 451, a
redirect to a login page, a redirect to the home page, a page shrunk to a "content
unavailable" shell). Each is reported once, logged as its own custody event, and the case
verifies throughout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import make_case, prov_env, run_prov
from scheduling import WatchedSite, captures, log_entries, schedule_run, verify_ok, write_sources
from servers import Exchange, LocalServer

from provenance.watch.changes import Fingerprint, compare, takedown, visible_text

ARTICLE = ("<article><h1>Statement on the count</h1>"
           + "".join(f"<p>Paragraph {n}: the results in district {n} were certified.</p>"
                     for n in range(30)) + "</article>")
SHELL = "<div><h2>Sorry, this content isn't available right now</h2></div>"

# path -> how it is taken down between the first and the second run
TAKEDOWNS = {
    "/gone404": ("gone", b"404 Not Found", "HTTP 404"),
    "/gone410": ("gone", b"410 Gone", "HTTP 410"),
    "/gone451": ("gone", b"451 Unavailable For Legal Reasons", "HTTP 451"),
    "/to-login": ("redirect", "/accounts/login?next=/to-login", "login page"),
    "/to-home": ("redirect", "/", "home page"),
    "/shrunk": ("shell", "", "content-unavailable shell"),
}


# -- units -----------------------------------------------------------------------------------


def test_visible_text_leaves_out_what_is_not_shown() -> None:
    html = (b"<html><head><title> The  title </title><style>p{}</style></head><body>"
            b"<script>var hidden = 1;</script><div><p>One <b>bold</b> line</p>Two</div>"
            b"<noscript>no</noscript><template><p>t</p></template><ul><li>a<li>b</ul>"
            b"<!-- comment --></body></html>")
    assert visible_text(html, "text/html") == ("The title", "One bold line\nTwo\na\nb")
    assert visible_text("caf\xe9".encode("latin-1"), "text/plain; charset=iso-8859-1") == (
        "", "caf\xe9")
    assert visible_text(b"\x89PNG", "image/png") is None
    deep = b"<div>" * 20000 + b"deep" + b"</div>" * 20000
    assert visible_text(deep, "text/html") == ("", "deep")  # no recursion limit


def fp(**values: object) -> Fingerprint:
    base: dict[str, object] = {"capture_id": "c1", "capture_dir": "d", "url": "https://a/p",
                               "final_url": "https://a/p", "status": 200, "digest": "sha256:1",
                               "text_sha256": "t1", "text_length": 3000, "title": "T"}
    return Fingerprint(**{**base, **values})  # type: ignore[arg-type]


def test_compare_and_takedown_rules() -> None:
    before = fp(requisites={"https://a/x.png": "sha256:a"})
    assert compare(before, fp(requisites={"https://a/x.png": "sha256:a"})).changes == ()
    edited = compare(before, fp(digest="sha256:2", text_sha256="t2", text_length=2900,
                                requisites={"https://a/x.png": "sha256:b"}))
    assert "content changed" in edited.changes and edited.takedown is None
    assert ("https://a/x.png", "sha256:a", "sha256:b") in edited.resources
    assert takedown(before, fp(status=410)) == "HTTP 410"
    assert takedown(before, fp(status=None, error="refused")) is None  # a failure, not gone
    login = fp(final_url="https://a/login?next=/p", hops=("https://a/login?next=/p",))
    assert "login page" in (takedown(before, login) or "")
    home = fp(final_url="https://a/", hops=("https://a/",))
    assert "home page" in (takedown(before, home) or "")
    assert takedown(fp(url="https://a/", final_url="https://a/"),
                    fp(url="https://a/", final_url="https://a/", hops=("https://a/",))) is None
    assert "shell" in (takedown(before, fp(text_length=900, shell="isn't available")) or "")
    assert "shell" in (takedown(before, fp(text_length=200)) or "")
    assert takedown(before, fp(text_length=2000)) is None  # an edit, not a removal
    assert takedown(before, fp(text_length=1400)) is None


def test_a_requisite_one_capture_lacks_is_not_compared() -> None:
    before = fp(requisites={"https://a/x.png": "sha256:a", "https://a/y.png": "sha256:b",
                            "https://a/z.png": "sha256:c"})
    after = fp(requisites={"https://a/y.png": "connection reset by peer",
                           "https://a/z.png": "sha256:c", "https://a/new.png": "sha256:d"},
               not_fetched=("https://a/x.png",))
    change = compare(before, after)
    assert change.not_compared == ("https://a/x.png", "https://a/y.png")
    assert change.resources == (("https://a/new.png", None, "sha256:d"),)  # named anew
    assert change.changes == ("1 requisite(s) changed, added or removed",)
    assert compare(after, before).not_compared == ("https://a/x.png", "https://a/y.png")
    gone = compare(before, fp(requisites={**before.requisites, "https://a/x.png": "HTTP 404"}))
    assert gone.resources == (("https://a/x.png", "sha256:a", "HTTP 404"),)  # an answer
    assert compare(before, fp(not_fetched=tuple(before.requisites))).changes == ()


# -- end to end ------------------------------------------------------------------------------


@pytest.fixture
def site(http_server: LocalServer) -> WatchedSite:
    site = WatchedSite(http_server)
    for path in [*TAKEDOWNS, "/edited", "/same", "/with-image"]:
        site.page(path, ARTICLE, title=f"Page {path}",
                  requisites=("/img.png",) if path == "/with-image" else ())
    site.image("/img.png", 1)
    site.page("/", "<p>Front page</p>", title="Home")
    site.page("/accounts/login", "<form>Log in to continue</form>", title="Log in")
    return site


def _take_down(site: WatchedSite) -> None:
    for path, (how, arg, _) in TAKEDOWNS.items():
        if how == "gone":
            assert isinstance(arg, bytes)
            site.gone(path, arg)
        elif how == "redirect":
            assert isinstance(arg, str)
            site.redirect(path, arg)
        else:
            site.page(path, SHELL, title="Unavailable")
    site.page("/edited", ARTICLE.replace("district 7 were certified", "district 7 were "
                                         "annulled"), title="Page /edited")
    site.image("/img.png", 2)


def test_changes_and_takedowns_end_to_end(site: WatchedSite, tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    paths = [*TAKEDOWNS, "/edited", "/same", "/with-image"]
    sources = write_sources(tmp_path, [{"url": site.url(p)} for p in paths],
                            defaults={"requisites": True, "interval": "1h"})
    first = schedule_run(env, sources, case)
    assert (first.returncode, first.stdout, first.stderr) == (0, "", "")
    _take_down(site)
    second = schedule_run(env, sources, case, "--all", "--on-change",
                          f"cat > {tmp_path / 'alert.json'}")
    assert second.returncode == 0, second.stderr
    out = second.stdout
    assert "2 changed, 6 taken down" in out
    for path, (_, _, reason) in TAKEDOWNS.items():
        line = next(n for n, text in enumerate(out.splitlines()) if text.endswith(site.url(path)))
        assert out.splitlines()[line].startswith("TAKEDOWN")
        assert reason in out.splitlines()[line + 1], (path, out)
    assert f"CHANGED   {site.url('/edited')}" in out
    assert f"CHANGED   {site.url('/with-image')}" in out and "requisite" in out
    assert site.url("/same") not in out

    entries = log_entries(case)
    takedowns = {e["details"]["url"]: e for e in entries if e["action"] == "takedown-detected"}
    changes = {e["details"]["url"] for e in entries if e["action"] == "change-detected"}
    assert set(takedowns) == {site.url(p) for p in TAKEDOWNS}
    assert changes == {site.url("/edited"), site.url("/with-image")}
    seal = takedowns[site.url("/gone410")]["subjects"][0]["path"]
    assert seal.endswith("seal.dsse.json") and seal.startswith(
        captures(case)[-1].relative_to(case).as_posix())
    assert takedowns[site.url("/gone410")]["details"]["reason"] == "HTTP 410"
    alert = json.loads((tmp_path / "alert.json").read_text())
    assert {c["url"] for c in alert["changes"]} >= {site.url(p) for p in TAKEDOWNS}
    verify_ok(env, case, key_pub)

    third = schedule_run(env, sources, case, "--all")  # still gone, nothing new: silent
    assert (third.returncode, third.stdout) == (0, "")
    status = json.loads(run_prov("schedule", "status", "--case", str(case), "--json",
                                 env=env).stdout)
    removed = {r["url"]: r["removed"] for r in status}
    assert removed[site.url("/gone451")] == "HTTP 451" and removed[site.url("/same")] is None

    site.page("/gone410", ARTICLE, title="Page /gone410")  # back, as it was
    fourth = schedule_run(env, sources, case, "--all")
    assert f"CHANGED   {site.url('/gone410')}" in fourth.stdout
    assert "available again (was: HTTP 410)" in fourth.stdout
    assert [e["action"] for e in log_entries(case)].count("takedown-detected") == 6
    verify_ok(env, case, key_pub)


def test_prov_diff(site: WatchedSite, tmp_path: Path) -> None:
    case, _ = make_case(tmp_path)
    env = prov_env(tmp_path)
    url = site.url("/with-image")
    sources = write_sources(tmp_path, [{"url": url, "requisites": True}])
    assert schedule_run(env, sources, case).returncode == 0
    same = run_prov("diff", url, "--case", str(case), env=env)
    assert same.returncode == 2 and "nothing to compare" in same.stderr
    assert schedule_run(env, sources, case, "--all").returncode == 0  # unchanged: revisits
    _take_down(site)
    site.page("/with-image", ARTICLE.replace("Paragraph 3:", "Paragraph three:"),
              requisites=("/img.png",))
    assert schedule_run(env, sources, case, "--all").returncode == 0
    ids = [p.name for p in captures(case)]

    text = run_prov("diff", url, "--case", str(case), env=env)
    assert text.returncode == 0, text.stderr
    assert f"from {ids[1]}" in text.stdout and f"to   {ids[2]}" in text.stdout
    assert "-Paragraph 3: the results" in text.stdout
    assert "+Paragraph three: the results" in text.stdout
    assert f"resource {site.url('/img.png')}" in text.stdout

    unchanged = run_prov("diff", url, "--case", str(case), "--from", ids[0][:13],
                         "--to", ids[1], "--json", env=env)
    doc = json.loads(unchanged.stdout)
    assert doc["changes"] == [] and doc["textDiff"] == [] and doc["resources"] == []
    assert doc["before"]["digest"] == doc["after"]["digest"]  # the revisit read its original

    alert = tmp_path / "diff.json"
    hooked = run_prov("diff", url, "--case", str(case), "--from", ids[0], "--on-change",
                      f"cat > {alert}", env=env)
    assert hooked.returncode == 0 and json.loads(alert.read_text())["toCapture"] == ids[2]
    failing = run_prov("diff", url, "--case", str(case), "--on-change", "exit 3", env=env)
    assert failing.returncode == 6 and "--on-change command exited 3" in failing.stderr
    ambiguous = run_prov("diff", url, "--case", str(case), "--from", "0", env=env)
    assert ambiguous.returncode == 2 and "matches" in ambiguous.stderr


def test_a_requisite_not_fetched_in_one_capture_is_not_a_change(
        site: WatchedSite, tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    url = site.url("/two-images")
    site.page("/two-images", ARTICLE, requisites=("/img.png", "/flaky.png"))
    site.image("/flaky.png", 3)
    sources = write_sources(tmp_path, [{"url": url, "requisites": True}])
    assert schedule_run(env, sources, case).returncode == 0

    def no_answer(ex: Exchange) -> None:
        ex.close = True  # the connection closes before any answer

    site.server.add_route("/flaky.png", no_answer)
    second = schedule_run(env, sources, case, "--all")  # /flaky.png fetched, not answered
    assert (second.returncode, second.stdout) == (5, "")  # the failed fetch is reported,
    assert "flaky.png" in second.stderr  # but it is no change
    write_sources(tmp_path, [{"url": url, "requisites": False}])
    third = schedule_run(env, sources, case, "--all")  # neither image fetched
    assert (third.returncode, third.stdout, third.stderr) == (0, "", "")
    assert not [e for e in log_entries(case) if e["action"].endswith("-detected")]

    shown = run_prov("diff", url, "--case", str(case), "--from", captures(case)[0].name,
                     env=env)
    assert shown.returncode == 0, shown.stderr
    assert "no differences" in shown.stdout and "resource " not in shown.stdout
    assert "not compared: 2 requisite(s)" in shown.stdout
    assert site.url("/img.png") in shown.stdout and site.url("/flaky.png") in shown.stdout
    doc = json.loads(run_prov("diff", url, "--case", str(case), "--json", env=env).stdout)
    assert doc["changes"] == [] and doc["resources"] == []
    assert doc["notCompared"] == [site.url("/flaky.png"), site.url("/img.png")]

    site.image("/flaky.png", 3)
    write_sources(tmp_path, [{"url": url, "requisites": True}])
    fourth = schedule_run(env, sources, case, "--all")  # both fetched again
    assert (fourth.returncode, fourth.stdout, fourth.stderr) == (0, "", "")
    site.image("/img.png", 9)  # held by both captures and different: a change
    fifth = schedule_run(env, sources, case, "--all")
    assert f"CHANGED   {url}" in fifth.stdout and "1 requisite(s)" in fifth.stdout
    verify_ok(env, case, key_pub)


# -- browser sources: what a reader sees -----------------------------------------------------

POST_PAGE = ("<h1>The minister's post</h1><p id=post>loading…</p><img src='/pic.png'>"
             "<script>fetch('/api/post').then(r => r.json()).then(d => {"
             "document.getElementById('post').textContent = d.text; })</script>")
POST = "I will not accept the result of the count in district 7. " * 6


def _post(site: WatchedSite, text: str) -> None:
    site.raw("/api/post", b"200 OK", [(b"Content-Type", b"application/json"),
                                      (b"Cache-Control", b"no-store")],
             json.dumps({"text": text}).encode())


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(),
                    reason="browser capture needs Debian's chromium at /usr/bin/chromium")
def test_a_post_loaded_by_script_is_compared_as_rendered(site: WatchedSite,
                                                         tmp_path: Path) -> None:
    case, key_pub = make_case(tmp_path)
    env = prov_env(tmp_path)
    url = site.url("/post")
    site.page("/post", POST_PAGE, title="Post")
    site.image("/pic.png", 5)
    _post(site, POST)
    sources = write_sources(tmp_path, [{"url": url, "browser": True}])
    first = schedule_run(env, sources, case)
    assert (first.returncode, first.stdout, first.stderr) == (0, "", "")

    def no_answer(ex: Exchange) -> None:
        ex.close = True

    site.server.add_route("/pic.png", no_answer)  # the image: fetched, never answered
    _post(site, POST.replace("I will not accept", "I accept"))  # the page's bytes stay
    alert = tmp_path / "alert.json"
    second = schedule_run(env, sources, case, "--all", "--on-change", f"cat > {alert}")
    assert second.returncode == 0, second.stderr
    assert f"CHANGED   {url}" in second.stdout
    assert "rendered text changed" in second.stdout
    assert "content changed" not in second.stdout and "requisite" not in second.stdout
    [change] = json.loads(alert.read_text())["changes"]
    assert change["notCompared"] == [site.url("/pic.png")] and change["resources"] == []
    rendered = change["renderedText"]
    assert rendered["before"]["sha256"] != rendered["after"]["sha256"]
    assert rendered["after"]["length"] == rendered["before"]["length"] - 6 * len("will not ")
    [entry] = [e for e in log_entries(case) if e["action"] == "change-detected"]
    assert entry["details"]["renderedText"] == rendered
    assert any(c.startswith("rendered text changed") for c in entry["details"]["changes"])

    shown = run_prov("diff", url, "--case", str(case), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "no differences" not in shown.stdout
    assert "(rendered)" in shown.stdout
    assert f"-{POST.strip()}" in shown.stdout
    assert f"+{POST.replace('I will not accept', 'I accept').strip()}" in shown.stdout
    assert "not compared: 1 requisite(s)" in shown.stdout
    doc = json.loads(run_prov("diff", url, "--case", str(case), "--json", env=env).stdout)
    assert doc["textDiff"] == [] and doc["renderedTextDiff"][0].endswith("(rendered)")

    _post(site, "Sorry, this content isn't available right now")  # gone, for a reader
    third = schedule_run(env, sources, case, "--all")
    assert f"TAKEDOWN  {url}" in third.stdout and "content-unavailable shell" in third.stdout
    verify_ok(env, case, key_pub)
