"""provenance.exports.exhibit_model: what the exhibit report shows of an exchange and a seed
(status code, the response a URL ended at, whether it was redirected)."""

from __future__ import annotations

from provenance.exports.exhibit_model import Exchange, SeedView


def test_status_code_of_an_exchange() -> None:
    assert Exchange("http://a/", status="HTTP/1.1 301 Moved").code == "301"
    assert Exchange("http://a/", error="no response").code == ""


def test_a_seed_ends_at_its_landing_response_else_its_last_hop() -> None:
    first = Exchange("http://a/", status="HTTP/1.1 301 Moved", location="/b")
    last = Exchange("http://a/b", status="HTTP/1.1 200 OK")
    seed = SeedView("http://a/", [first, last])
    assert seed.first is first and seed.final is last and seed.redirected
    landing = Exchange("http://a/c", status="HTTP/1.1 200 OK")
    scripted = SeedView("http://a/", [Exchange("http://a/", status="HTTP/1.1 200 OK")],
                        final_url="http://a/c", landing=landing)
    assert scripted.final is landing and scripted.redirected
    assert not SeedView("http://a/", []).redirected and SeedView("http://a/", []).final is None
