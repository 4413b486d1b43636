"""The labelling web app: Starlette + uvicorn, server-rendered pages, one small static script.

Security, because the page shows untrusted model text and the server writes files:

- binds 127.0.0.1 by default; any other host needs an access token (random, from :mod:`secrets`, printed in the
  URL), checked on every request in constant time (:func:`hmac.compare_digest`); without one the server refuses
  to start. The URL's token is swapped for an HttpOnly, SameSite=Strict cookie and dropped from the address bar;
- on a loopback bind the Host header must name the loopback address (no DNS-rebinding page can talk to it);
- every state-changing request needs a JSON body, the page's CSRF value in ``X-Rlaif-Csrf``, and a same-origin
  ``Origin`` when the browser sends one; bodies are capped at :data:`MAX_BODY` bytes;
- model output, prompts, reasons and names are only ever set as text (``textContent`` in the script, escaped in
  the pages), under a Content-Security-Policy that allows no inline script or style and nothing off-site;
- the client names items by id and sides as left/right; it never names a file path or sees a response's
  identity (original / revision / the AI's choice) before it has chosen.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import secrets
import socket
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from rlaif.errors import RlaifError
from rlaif.label.consensus import agreement_with
from rlaif.label.items import DEFAULT_QUESTION, Item
from rlaif.label.queue import Assigner, order_items, sides
from rlaif.label.session import LabelSession
from rlaif.label.stats import disagreement_ids, label_stats
from rlaif.label.store import check_labeller, label_event, now, undo_event

MAX_BODY = 16 * 1024
"""Largest request body accepted (a label with a 2,000-character reason is well under 10 KB)."""
CSRF_HEADER = "x-rlaif-csrf"
STATIC = {"label.js": "application/javascript; charset=utf-8", "label.css": "text/css; charset=utf-8"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


class Guard:
    """ASGI middleware: Host check, token, CSRF, body limit, security headers -- before any route runs."""

    def __init__(self, app: Any, token: str | None, csrf: str, port: int, loopback: bool):
        self.app = app
        self.token = token
        self.csrf = csrf
        self.cookie = f"rlaif-label-{port}"
        self.hosts = {f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]")} if loopback else None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def secured_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + SECURITY_HEADERS
            await send(message)

        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "")
        if self.hosts is not None and host not in self.hosts:
            await _plain(secured_send, 400, "Bad Host header: open the address rlaif label printed.")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        if self.token is not None:
            offered = [query.get("token"), headers.get("x-rlaif-token"), _cookie(headers, self.cookie)]
            if not any(
                value and hmac.compare_digest(value.encode(), self.token.encode()) for value in offered
            ):
                await _plain(
                    secured_send,
                    403,
                    "Forbidden: open the full URL that `rlaif label` printed (it carries the access token).",
                )
                return
            if scope["method"] == "GET" and query.get("token") and not scope["path"].startswith("/api/"):
                rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
                location = scope["path"] + (f"?{rest}" if rest else "")
                cookie = f"{self.cookie}={self.token}; HttpOnly; SameSite=Strict; Path=/"
                await secured_send(
                    {
                        "type": "http.response.start",
                        "status": 303,
                        "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode())],
                    }
                )
                await secured_send({"type": "http.response.body", "body": b""})
                return
        if scope["method"] not in ("GET", "HEAD"):
            csrf = headers.get(CSRF_HEADER, "")
            origin = headers.get("origin")
            if not csrf or not hmac.compare_digest(csrf.encode(), self.csrf.encode()):
                await _plain(secured_send, 403, "Forbidden: missing or wrong X-Rlaif-Csrf header.")
                return
            if origin is not None and origin != f"http://{host}":
                await _plain(secured_send, 403, "Forbidden: cross-origin request.")
                return
            if not headers.get("content-type", "").startswith("application/json"):
                await _plain(secured_send, 415, "Expected a JSON body (Content-Type: application/json).")
                return
            declared = headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
                await _plain(secured_send, 413, f"Request body over {MAX_BODY} bytes.")
                return
            body = b""
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > MAX_BODY:
                    await _plain(secured_send, 413, f"Request body over {MAX_BODY} bytes.")
                    return
            delivered = False

            async def replay() -> dict:
                nonlocal delivered
                if delivered:
                    return await receive()
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, secured_send)
            return
        await self.app(scope, receive, secured_send)


def _cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


async def _plain(send: Callable, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class LabelApp:
    """The routes, over one :class:`LabelSession`. State changes are serialised by one lock; every request first
    reads whatever other processes appended to the labels file."""

    def __init__(
        self,
        session: LabelSession,
        order: str = "uncertain",
        overlap: int = 1,
        seed: int = 0,
        labeller: str | None = None,
        token: str | None = None,
        port: int = 0,
        loopback: bool = True,
    ):
        from starlette.applications import Starlette
        from starlette.routing import Route

        self.session = session
        self.order = order
        self.assigner = Assigner(order_items(session.items.items, order, seed), overlap)
        self.fixed = check_labeller(labeller) if labeller else None
        self.csrf = secrets.token_urlsafe(24)
        self.lock = threading.Lock()
        routes = [
            Route("/", self.page),
            Route("/summary", self.summary),
            Route("/disagreements", self.disagreements),
            Route("/static/{name}", self.static),
            Route("/favicon.ico", self.favicon),
            Route("/api/next", self.api_next),
            Route("/api/label", self.api_label, methods=["POST"]),
            Route("/api/undo", self.api_undo, methods=["POST"]),
            Route("/api/stats", self.api_stats),
        ]
        self.app = Guard(Starlette(routes=routes), token, self.csrf, port, loopback)

    # -- helpers ------------------------------------------------------------------------------------------------
    def _labeller(self, value: Any) -> str:
        return self.fixed or check_labeller(value)

    def _item_payload(self, item: Item | None, labeller: str) -> dict[str, Any] | None:
        if item is None:
            return None
        left, right = sides(item, labeller)
        return {
            "id": item.id,
            "principle": item.principle_id or "",
            "question": item.question or DEFAULT_QUESTION,
            "conversation": [{"role": m["role"], "content": m["content"]} for m in item.prompt],
            "left": left.text,
            "right": right.text,
            "shown_at": now(),
        }

    def _reveal(self, item: Item, labeller: str, event: dict[str, Any]) -> dict[str, Any]:
        left, right = sides(item, labeller)
        side = {left.id: "left", right.id: "right"}
        you = "tie" if event["verdict"] == "tie" else side[event["chosen"]]
        judge = None
        if item.judge is not None:
            choice = "tie" if item.judge.choice is None else side[item.judge.choice]
            value = agreement_with(item.judge.choice, event.get("chosen") or "tie")
            judge = {
                "name": item.judge.name,
                "choice": choice,
                "p_left": item.judge.p_of(left.id, item.responses),
                "agree": None if value is None else value == 1.0,
                "status": item.status,
                "reason": item.reason or "",
            }
        file_choice = {"choice": side[item.file_choice]} if item.file_choice else None
        return {"item": item.id, "you": you, "judge": judge, "file": file_choice}

    def _progress(self, labeller: str) -> dict[str, int]:
        return self.assigner.progress(labeller, self.session.state).as_dict()

    async def _json(self, request: Any) -> dict[str, Any]:
        try:
            data = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RlaifError("the request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise RlaifError("the request body must be a JSON object")
        return data

    # -- API ----------------------------------------------------------------------------------------------------
    async def api_next(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        return await _guarded(run_in_threadpool, self._next, request.query_params.get("labeller"))

    def _next(self, name: Any) -> dict[str, Any]:
        labeller = self._labeller(name)
        with self.lock:
            state = self.session.sync()
            item = self.assigner.next_for(labeller, state)
            return {
                "labeller": labeller,
                "item": self._item_payload(item, labeller),
                "progress": self._progress(labeller),
            }

    async def api_label(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        data = await _guarded_json(self, request)
        if not isinstance(data, dict):
            return data
        return await _guarded(run_in_threadpool, self._label, data)

    def _label(self, data: dict[str, Any]) -> dict[str, Any]:
        labeller = self._labeller(data.get("labeller"))
        item = self.session.items.get(str(data.get("item")))
        if item is None:
            raise RlaifError(f"unknown item {str(data.get('item'))[:80]!r}")
        choice = data.get("choice")
        if choice not in ("left", "right", "tie", "skip"):
            raise RlaifError("choice must be left, right, tie or skip")
        seconds = data.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds != seconds:
            seconds = None
        shown_at = data.get("shown_at")
        left, right = sides(item, labeller)
        event = label_event(
            item.id,
            item.digest,
            labeller,
            "prefer" if choice in ("left", "right") else choice,
            left.id,
            right.id,
            chosen=left.id if choice == "left" else right.id if choice == "right" else None,
            reason=data.get("reason") or "",
            seconds=seconds,
            shown_at=shown_at[:40] if isinstance(shown_at, str) else None,
        )
        with self.lock:
            self.session.store.append([event])  # returns only once the line is fsync'd
            state = self.session.sync()
            self.assigner.release(labeller)
            following = self.assigner.next_for(labeller, state)
            return {
                "saved": True,
                "event": event["id"],
                "reveal": None if choice == "skip" else self._reveal(item, labeller, event),
                "next": self._item_payload(following, labeller),
                "progress": self._progress(labeller),
                "labeller": labeller,
            }

    async def api_undo(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        data = await _guarded_json(self, request)
        if not isinstance(data, dict):
            return data
        return await _guarded(run_in_threadpool, self._undo, data)

    def _undo(self, data: dict[str, Any]) -> dict[str, Any]:
        labeller = self._labeller(data.get("labeller"))
        with self.lock:
            state = self.session.sync()
            last = state.last(labeller)
            if last is None:
                item = self.assigner.next_for(labeller, state)
                return {
                    "undone": None,
                    "next": self._item_payload(item, labeller),
                    "progress": self._progress(labeller),
                    "labeller": labeller,
                }
            self.session.store.append([undo_event(last)])
            state = self.session.sync()
            self.assigner.pin(labeller, last["item"])
            item = self.assigner.next_for(labeller, state)
            return {
                "undone": {"item": last["item"], "verdict": last["verdict"]},
                "next": self._item_payload(item, labeller),
                "progress": self._progress(labeller),
                "labeller": labeller,
            }

    async def api_stats(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool

        def work() -> dict[str, Any]:
            with self.lock:
                return label_stats(self.session.sync(), self.session.items.items).as_dict()

        return await _guarded(run_in_threadpool, work)

    # -- pages --------------------------------------------------------------------------------------------------
    async def static(self, request: Any) -> Any:
        from starlette.responses import PlainTextResponse, Response

        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("Not found", status_code=404)
        body = resources.files("rlaif.label").joinpath("static", name).read_bytes()
        return Response(body, media_type=STATIC[name])

    async def favicon(self, request: Any) -> Any:
        from starlette.responses import Response

        return Response(status_code=204)

    def _frame(self, title: str, body: str, active: str) -> str:
        links = [("/", "Label"), ("/summary", "Summary"), ("/disagreements", "Disagreements")]
        nav = " ".join(
            f'<a href="{href}" class="{"active" if href == active else ""}">{esc(text)}</a>'
            for href, text in links
        )
        target = self.session.items.target.name or str(self.session.items.target)
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)} · rlaif label</title>"
            f'<meta name="rlaif-csrf" content="{esc(self.csrf)}">'
            f'<meta name="rlaif-labeller" content="{esc(self.fixed or "")}">'
            '<link rel="stylesheet" href="/static/label.css">'
            '<script src="/static/label.js" defer></script></head><body>'
            f'<header><span class="brand">rlaif label</span><span class="target">{esc(target)}</span>'
            f"<nav>{nav}</nav>"
            '<span class="who">labeller: <b id="labeller-name"></b> '
            '<button type="button" id="change-name">change</button></span>'
            '<span id="progress" class="progress"></span></header>'
            f"{body}</body></html>"
        )

    async def page(self, request: Any) -> Any:
        from starlette.responses import HTMLResponse

        body = """
<section id="name-form" hidden>
  <form id="name">
    <label for="name-input">Your name, recorded with every label you give</label>
    <input id="name-input" name="labeller" maxlength="64" required autocomplete="name">
    <button type="submit">Start labelling</button>
  </form>
</section>
<aside id="reveal" class="reveal" hidden>
  <h3>The item you just labelled</h3>
  <p id="reveal-text"></p>
</aside>
<main id="labelling" data-item="" data-saved="0" hidden>
  <section class="principle"><span id="principle-id" class="tag"></span><p id="question"></p></section>
  <section id="conversation" class="conversation" aria-label="Conversation"></section>
  <section class="responses">
    <article class="response"><h2><kbd>1</kbd> Left</h2><pre id="left-text"></pre></article>
    <article class="response"><h2><kbd>2</kbd> Right</h2><pre id="right-text"></pre></article>
  </section>
  <section class="controls">
    <button type="button" data-choice="left"><kbd>1</kbd> Left is better</button>
    <button type="button" data-choice="tie"><kbd>3</kbd> Tie / can't tell</button>
    <button type="button" data-choice="right"><kbd>2</kbd> Right is better</button>
    <button type="button" data-choice="skip"><kbd>s</kbd> Skip</button>
    <button type="button" id="undo"><kbd>u</kbd> Undo</button>
    <label class="reason" for="reason">Reason (optional; <kbd>r</kbd> to type, <kbd>Esc</kbd> to leave)</label>
    <textarea id="reason" maxlength="2000" rows="2"></textarea>
  </section>
  <p id="status" class="status" role="status"></p>
</main>
<section id="done" hidden><h2>Your queue is empty</h2>
  <p>Every item that still needs a label from you is labelled. See the Summary, or press <kbd>u</kbd> to undo
  your last label.</p></section>
"""
        return HTMLResponse(self._frame("Label", body, "/"))

    async def summary(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import HTMLResponse

        return HTMLResponse(await run_in_threadpool(self._summary_html))

    def _summary_html(self) -> str:
        with self.lock:
            stats = label_stats(self.session.sync(), self.session.items.items)
            progress = self.assigner.progress("", self.session.state)
        rows = [("overall", stats.judge)] + list(stats.judge_per_principle.items())
        judge_rows = "".join(
            f"<tr><td>{esc(name)}</td><td>{a.n}</td>"
            f"<td>{'–' if a.agreement is None else f'{a.agreement:.3f}'}</td>"
            f"<td>{'–' if a.ci95 is None else f'{a.ci95[0]:.2f} – {a.ci95[1]:.2f}'}</td></tr>"
            for name, a in rows
        )
        labeller_rows = "".join(
            f"<tr><td>{esc(c.name)}</td><td>{c.preferences}</td><td>{c.ties}</td><td>{c.skips}</td>"
            f"<td>{'–' if c.median_seconds is None else f'{c.median_seconds:.1f} s'}</td>"
            f"<td>{esc(c.judge.text() if c.judge else '–')}</td></tr>"
            for c in stats.labellers
        )
        pair_rows = "".join(
            f"<tr><td>{esc(p.first)} ~ {esc(p.second)}</td><td>{p.shared}</td>"
            f"<td>{'–' if p.agreement is None else f'{p.agreement:.3f}'}</td>"
            f"<td>{'–' if p.kappa is None else f'{p.kappa:.3f}'}</td></tr>"
            for p in stats.pairs
        )
        file_line = (
            f"<p>Experts vs the file's own <i>chosen</i>: {esc(stats.file.text())}</p>"
            if stats.file.n
            else ""
        )
        notes = "".join(f"<li>{esc(note)}</li>" for note in stats.notes)
        body = f"""
<main class="report">
  <h1>Summary</h1>
  <p>{stats.items} items; {stats.labelled_items} labelled by at least one expert; {progress.complete} labelled by
  {self.assigner.overlap} (the overlap). Expert ties: {stats.expert_ties}; items where experts split:
  {stats.split_items}. <a href="/disagreements">{stats.disagreements} disagreement(s) with the judge</a>.</p>
  <h2>Judge vs experts</h2>
  <p class="note">Per item: the judge's decision against the experts' verdict; 1 same response, 0 the other,
  1/2 when the judge called a tie; items the experts called a tie are left out. 95% Wilson intervals.</p>
  <table><thead><tr><th>principle</th><th>n</th><th>agreement</th><th>95% interval</th></tr></thead>
  <tbody>{judge_rows}</tbody></table>
  {file_line}
  <h2>Labellers</h2>
  <table><thead><tr><th>labeller</th><th>preferences</th><th>ties</th><th>skips</th><th>median time</th>
  <th>agreement with the judge</th></tr></thead><tbody>{labeller_rows}</tbody></table>
  <h2>Between labellers</h2>
  <table><thead><tr><th>labellers</th><th>items both labelled</th><th>agreement</th><th>Cohen's kappa</th></tr>
  </thead><tbody>{pair_rows or '<tr><td colspan="4">Needs two labellers on shared items (--overlap 2).</td></tr>'}
  </tbody></table>
  {f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""}
</main>"""
        return self._frame("Summary", body, "/summary")

    async def disagreements(self, request: Any) -> Any:
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import HTMLResponse

        return HTMLResponse(await run_in_threadpool(self._disagreements_html))

    def _disagreements_html(self) -> str:
        with self.lock:
            index = self.session.index()
        by_id = self.session.items.by_id
        blocks = []
        for item_id in disagreement_ids(index, by_id):
            item, verdict = by_id[item_id], index.verdicts[item_id]
            judge = item.judge
            assert judge is not None and verdict.prefers is not None
            expert = item.response(verdict.prefers)
            other = item.response(item.other(verdict.prefers))
            p = judge.p_of(expert.id, item.responses)
            first, second = judge.raw_orders if None not in judge.raw_orders else judge.orders
            if (
                expert.id != item.responses[0].id
            ):  # orders are P(responses[0] better): turn to the expert's choice
                first, second = (
                    (None if second is None else 1 - second),
                    (None if first is None else 1 - first),
                )

            def fmt(value: float | None) -> str:
                return "–" if value is None else f"{value:.3f}"

            judge_said = "a tie" if judge.choice is None else "the other response"
            votes = ", ".join(f"{esc(k)}: {v}" for k, v in sorted(verdict.votes.items()))
            reasons = "".join(f"<li><b>{esc(who)}</b>: {esc(why)}</li>" for who, why in verdict.reasons)
            conversation = "".join(
                f'<div class="message"><span class="role">{esc(m["role"])}</span><pre>{esc(m["content"])}</pre></div>'
                for m in item.prompt
            )
            extra = ""
            if item.critique:
                extra += f"<h4>Critique (CAI)</h4><pre>{esc(item.critique)}</pre>"
            for rationale in judge.rationales:
                extra += f"<h4>Judge's rationale</h4><pre>{esc(rationale)}</pre>"
            blocks.append(
                f"""<article class="disagreement" data-item="{esc(item.id)}">
  <h3>{esc(item.id)} <span class="tag">{esc(item.principle_id or "")}</span></h3>
  <p class="question">{esc(item.question or DEFAULT_QUESTION)}</p>
  <p>Experts ({esc(", ".join(verdict.labellers))}; votes {votes}) prefer the response on the left; the judge
  ({esc(judge.name)}) chose {judge_said}{f" ({esc(item.reason)} drop)" if item.reason else ""}.
  P(experts' choice better) by the judge: {fmt(p)}; shown first: {fmt(first)}, shown second: {fmt(second)}
  (before debiasing where recorded).</p>
  <details><summary>Conversation</summary>{conversation}</details>
  <div class="responses"><article class="response"><h4>Experts' choice ({esc(expert.id)})</h4>
  <pre>{esc(expert.text)}</pre></article><article class="response"><h4>Other ({esc(other.id)})</h4>
  <pre>{esc(other.text)}</pre></article></div>
  {extra}{f"<h4>Reasons</h4><ul>{reasons}</ul>" if reasons else ""}
</article>"""
            )
        body = (
            '<main class="report"><h1>Disagreements</h1><p class="note">Items where the experts prefer a response '
            "the judge did not choose (it chose the other one, or called a tie), with the judge's probabilities "
            "in both presentation orders and the critique. This view shows the judge's verdicts: look at it "
            "after labelling.</p>" + ("".join(blocks) or "<p>No disagreements yet.</p>") + "</main>"
        )
        return self._frame("Disagreements", body, "/disagreements")


async def _guarded(call: Callable, *args: Any) -> Any:
    from starlette.responses import JSONResponse

    try:
        return JSONResponse(await call(*args))
    except RlaifError as error:
        return JSONResponse({"error": str(error)}, status_code=400)


async def _guarded_json(app: LabelApp, request: Any) -> Any:
    from starlette.responses import JSONResponse

    try:
        return await app._json(request)
    except RlaifError as error:
        return JSONResponse({"error": str(error)}, status_code=400)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise RlaifError(f"--host {host}: cannot resolve ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)  # connections made as soon as the URL is printed wait in the backlog for uvicorn
    except OSError as exc:
        sock.close()
        raise RlaifError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc})",
            hint="Omit --port to take a free port." if port else None,
        ) from None
    return sock


def url_for(host: str, port: int, token: str | None) -> str:
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def serve(
    session: LabelSession,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None | bool = True,
    open_browser: bool = True,
    echo: Callable[[str], None] = print,
    **settings: Any,
) -> None:
    """Serve until interrupted. ``token``: True for a random one, a string to use it, False/None for none (loopback
    only). ``settings``: :class:`LabelApp`'s order, overlap, seed, labeller."""
    import uvicorn

    loopback = is_loopback(host)
    if token is True:
        token = secrets.token_urlsafe(32)
    if not token:
        if not loopback:
            raise RlaifError(
                f"refusing to serve on {host} without an access token: anyone who can reach this machine "
                "could read the items and write labels",
                hint="Drop --no-token (a random token is printed in the URL), or bind 127.0.0.1.",
            )
        token = None
    elif len(str(token)) < 16:
        raise RlaifError("--token must be at least 16 characters (or let rlaif make a random one)")
    sock = bind(host, port)
    port = sock.getsockname()[1]
    app = LabelApp(session, token=token or None, port=port, loopback=loopback, **settings)
    session.record_session(
        order=app.order,
        overlap=app.assigner.overlap,
        labeller=app.fixed,
        host=host if not loopback else "loopback",
    )
    url = url_for(host, port, token or None)
    items = session.items
    echo(
        f"Labelling {len(items)} item(s) of {items.target} (order {app.order}, overlap {app.assigner.overlap}); "
        f"labels are saved to {session.labels_path}"
    )
    for warning in items.warnings[:5]:
        echo(f"note: {warning}")
    if items.skipped:
        echo("not labelable: " + ", ".join(f"{why} {count}" for why, count in items.skipped.most_common()))
    echo(f"Open: {url}")
    echo(
        "Keys: 1 left better, 2 right better, 3 tie, s skip, u undo. Ctrl-C stops (every saved label is kept)."
    )
    if open_browser:
        import webbrowser

        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    config = uvicorn.Config(
        app.app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_keep_alive=5,
        limit_concurrency=64,
    )
    uvicorn.Server(config).run(sockets=[sock])


def static_path(name: str) -> Path:
    """The path of a shipped static file (for docs and tests)."""
    return Path(str(resources.files("rlaif.label").joinpath("static", name)))
