"""The labelling server over HTTP, as a real process on a real port: access token, Host check, CSRF, body
limits, security headers, blind items, and two servers sharing one labels file."""

import http.client
import json
import subprocess
import sys
import urllib.request

import pytest

from rlaif.label.store import read_events
from tests.fixtures_label import REPO, LabelServer, engine_records, write_run

EXPECTED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("label-server"), engine_records())


@pytest.fixture(scope="module")
def server(run):
    with LabelServer(run, "--order", "file") as server:
        yield server


def raw(server, method, path, headers=None, body=None, host=None):
    """A request with full control of headers (urllib would add its own Host and Content-Type)."""
    port = int(server.base.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", host or f"127.0.0.1:{port}")
    for key, value in (headers or {}).items():
        connection.putheader(key, value)
    if (
        body is not None
        and "Content-Length" not in (headers or {})
        and "Transfer-Encoding" not in (headers or {})
    ):
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    if body is not None:
        connection.send(body)
    response = connection.getresponse()
    data = response.read().decode("utf-8", "replace")
    connection.close()
    return response, data


@pytest.mark.parametrize(
    "path", ["/", "/summary", "/disagreements", "/static/label.js", "/api/next?labeller=x"]
)
def test_every_request_needs_the_token(server, path):
    response, text = raw(server, "GET", path)
    assert response.status == 403 and "token" in text
    response, _ = raw(server, "GET", path, {"X-Rlaif-Token": server.token[:-1] + "A"})
    assert response.status == 403
    response, _ = raw(server, "GET", path, {"X-Rlaif-Token": server.token})
    assert response.status == 200
    assert response.getheader("Content-Security-Policy") == EXPECTED_CSP
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Referrer-Policy") == "no-referrer"


def test_the_url_token_becomes_a_strict_cookie_and_leaves_the_address_bar(server):
    response, _ = raw(server, "GET", f"/?token={server.token}")
    assert response.status == 303 and response.getheader("Location") == "/"
    cookie = response.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    name_value = cookie.split(";")[0]
    response, _ = raw(server, "GET", "/summary", {"Cookie": name_value})
    assert response.status == 200


def test_a_foreign_host_header_is_refused(server):
    response, text = raw(server, "GET", "/", {"X-Rlaif-Token": server.token}, host="attacker.example:80")
    assert response.status == 400 and "Host" in text


def test_state_changes_need_csrf_same_origin_json_and_a_small_body(server):
    item = server.next("eve")["item"]["id"]
    body = json.dumps({"labeller": "eve", "item": item, "choice": "left"}).encode()
    auth = {"X-Rlaif-Token": server.token, "Content-Type": "application/json"}
    cases = [
        (auth, 403),  # no CSRF header
        ({**auth, "X-Rlaif-Csrf": "wrong"}, 403),
        ({**auth, "X-Rlaif-Csrf": server.csrf, "Origin": "http://attacker.example"}, 403),
        ({**auth, "X-Rlaif-Csrf": server.csrf, "Content-Type": "text/plain"}, 415),
    ]
    for headers, status in cases:
        response, _ = raw(server, "POST", "/api/label", headers, body)
        assert response.status == status, headers
    big = json.dumps({"labeller": "eve", "item": item, "choice": "tie", "reason": "x" * 20_000}).encode()
    response, _ = raw(server, "POST", "/api/label", {**auth, "X-Rlaif-Csrf": server.csrf}, big)
    assert response.status == 413
    chunked = {**auth, "X-Rlaif-Csrf": server.csrf, "Transfer-Encoding": "chunked"}
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(big[i : i + 4096]), big[i : i + 4096]) for i in range(0, len(big), 4096)
    )
    response, _ = raw(server, "POST", "/api/label", chunked, chunks + b"0\r\n\r\n")
    assert response.status == 413
    events, _ = read_events(server.target / "labels.jsonl")
    assert not [e for e in events if e.get("labeller") == "eve"]  # nothing refused was written
    origin = f"http://127.0.0.1:{server.base.rsplit(':', 1)[1]}"
    response, text = raw(
        server, "POST", "/api/label", {**auth, "X-Rlaif-Csrf": server.csrf, "Origin": origin}, body
    )
    assert response.status == 200 and json.loads(text)["saved"] is True


def test_bad_requests_are_clear_json_errors(server):
    csrf = {"X-Rlaif-Csrf": server.csrf}
    for body, message in [
        ({"labeller": "eve", "item": "nope", "choice": "left"}, "unknown item"),
        ({"labeller": "eve", "item": "r1/p-agree", "choice": "maybe"}, "choice must be"),
        ({"labeller": "", "item": "r1/p-agree", "choice": "left"}, "labeller name"),
        ({"labeller": "x" * 65, "item": "r1/p-agree", "choice": "left"}, "labeller name"),
    ]:
        status, text = server.request("/api/label", body, csrf)
        assert status == 400 and message in json.loads(text)["error"]
    status, text = server.request(
        "/api/label", None, {**csrf, "Content-Type": "application/json"}, raw=b"[1,"
    )
    assert status == 400 and "not valid JSON" in text
    for path in ("/static/../items.py", "/static/label.py", "/static/%2e%2e%2fitems.py", "/labels.jsonl"):
        assert server.request(path)[0] == 404


def test_items_are_blind_until_labelled(server):
    payload = server.next("blind-check")
    item = payload["item"]
    assert set(item) == {"id", "principle", "question", "conversation", "left", "right", "shown_at"}
    text = json.dumps(payload)
    for leak in ("original", "revision", "chosen", "p_revision", "judge", "critique"):
        assert leak not in text.replace(item["question"], ""), leak
    result = server.label("blind-check", item["id"], "right")
    assert result["reveal"]["judge"]["name"] == "pairwise" and result["reveal"]["you"] == "right"
    assert "judge" not in json.dumps(result["next"])


def test_two_servers_on_one_labels_file_see_each_others_labels(run, server):
    with LabelServer(run, "--order", "file") as second:
        before = server.next("shared")["progress"]["labelled"]
        item = second.next("shared")["item"]
        second.label("shared", item["id"], "tie")
        after = server.next("shared")
        assert after["progress"]["labelled"] == before + 1 and after["item"]["id"] != item["id"]


def test_a_non_local_bind_needs_a_token(run):
    refused = subprocess.run(
        [sys.executable, "-m", "rlaif", "label", str(run), "--no-browser", "--host", "0.0.0.0", "--no-token"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        refused.returncode == 2 and "refusing to serve on 0.0.0.0 without an access token" in refused.stderr
    )
    with LabelServer(run, "--host", "0.0.0.0") as open_server:
        assert len(open_server.token) >= 32
        port = open_server.base.rsplit(":", 1)[1]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/next?labeller=x")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=10)
        assert error.value.code == 403
        request.add_header("X-Rlaif-Token", open_server.token)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
