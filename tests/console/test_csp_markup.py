"""Every console page, as each of the demo's roles sees it, carries the Content-Security-Policy and
nothing the policy would block: no inline <script> (without src), no <style> element, no `style=`
attribute, no `on…=` handler attribute, no javascript: URL.

The pages are found by walking the console's own links from Today (a few addresses per route, in each
role's reach, on the demo data), and every GET route of the url_map must have been reached, so a new
page is checked without editing this file. Volunteers and residents see the 403 page on every route.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from werkzeug.exceptions import HTTPException

from tests.api.demo_data import demo_loaded
from tests.support import console_sign_in
from volunteer_app.accounts.models import User
from volunteer_app.console.security import CSP
from volunteer_app.demo import world as demo_world
from volunteer_app.extensions import db
from volunteer_app.orders.models import OrderStatus
from volunteer_app.phones import normalize_phone

PER_ROUTE = 4  # addresses visited per route (the first ones met)
ROLES = {
    "admin": demo_world.ADMIN_PHONE,
    "center": demo_world.manager_phone(demo_world.CENTER_CODE),
    "institute": demo_world.manager_phone("DEMO-INST-1"),
    "station": demo_world.manager_phone("DEMO-ST-1"),
}
NOT_MANAGERS = {"volunteer": demo_world.volunteer_phone(0), "resident": demo_world.resident_phone(0)}
# Routes no page links to by design (the sign-in page is reached signed out; `unknown` is any other path).
UNLINKED = {"console.static", "console.sign_in", "console.unknown"}


class Markup(HTMLParser):
    """What in a page the policy forbids, and its links under /console/."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "style":
                self.problems.append(f"style= on <{tag}>")
            if name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name} of <{tag}>")
        a = dict(attrs)
        if tag == "style":
            self.problems.append("<style> element")
        if tag == "script" and not a.get("src"):
            self.problems.append("<script> without src")
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


def check_page(response, where: str) -> Markup:
    assert response.status_code < 500, (where, response.status_code)
    assert response.headers.get("Content-Security-Policy") == CSP, where
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers.get("X-Frame-Options") == "DENY", where
    assert response.mimetype == "text/html", where
    markup = Markup()
    markup.feed(response.get_data(as_text=True))
    assert not markup.problems, (where, sorted(set(markup.problems)))
    return markup


def _user_id(phone: str) -> int:
    return db.session.query(User.id).filter(User.phone == normalize_phone(phone)).scalar()


def _get_rules(app) -> dict[str, object]:
    return {
        rule.endpoint: rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("console.") and "GET" in rule.methods
    }


def crawl(app, client, start: str = "/console/") -> tuple[Counter, list[str]]:
    """Visit the console's pages by their links (PER_ROUTE addresses per route); each checked."""
    adapter = app.url_map.bind("localhost")
    seen_urls, per_route, queue = set(), Counter(), deque([start])
    while queue:
        url = queue.popleft()
        if url in seen_urls:
            continue
        seen_urls.add(url)
        parts = urlsplit(url)
        try:
            endpoint, _args = adapter.match(parts.path, method="GET")
        except HTTPException:
            endpoint = "console.unknown"
        if endpoint == "console.static" or per_route[endpoint] >= PER_ROUTE:
            continue
        per_route[endpoint] += 1
        response = client.get(url)
        markup = check_page(response, url)
        if response.status_code != 200:
            continue
        for href in markup.links:
            target = urljoin(url, href)
            split = urlsplit(target)
            if split.netloc or not split.path.startswith("/console/"):
                continue
            queue.append(split.path + (f"?{split.query}" if split.query else ""))
    return per_route, sorted(seen_urls)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_page_of_a_managers_console_keeps_to_the_policy(app, role):
    rules = _get_rules(app)
    with demo_loaded(app):
        with app.app_context():
            user_id = _user_id(ROLES[role])
        for language in ("zh-CN", "en"):
            client = app.test_client()
            client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
            console_sign_in(app, client, user_id)
            visited, _urls = crawl(app, client)
            missing = set(rules) - UNLINKED - set(visited)
            assert not missing, (role, language, sorted(missing))
        # An order's page in each state (each state has its own forms).
        for status in OrderStatus:
            queue = client.get(f"/console/orders?status={status}")
            check_page(queue, f"queue {status}")
            found = re.search(r'href="(/console/orders/\d+)[^"]*"', queue.get_data(as_text=True))
            if found:
                check_page(client.get(found.group(1)), f"an order {status}")
        # The 404 page, a bad filter's 422 page and an error page keep to it too.
        check_page(client.get("/console/no-such-page"), "404")
        check_page(client.get("/console/orders/0"), "404 by an id out of range")
        check_page(client.get("/console/orders?from=not-a-date"), "422")
        check_page(client.get("/console/orders?cursor=forged"), "400")


@pytest.mark.parametrize("role", sorted(NOT_MANAGERS))
def test_the_403_page_keeps_to_the_policy(app, role):
    rules = _get_rules(app)
    with demo_loaded(app):
        with app.app_context():
            user_id = _user_id(NOT_MANAGERS[role])
        client = app.test_client()
        console_sign_in(app, client, user_id)
        for endpoint, rule in sorted(rules.items()):
            if endpoint in UNLINKED:
                continue
            url = re.sub(r"<(?:\w+:)?\w+>", "1", rule.rule)
            response = client.get(url)
            assert response.status_code == 403, (url, response.status_code)
            check_page(response, url)


def test_the_sign_in_page_keeps_to_the_policy(app, client):
    check_page(client.get("/console/login"), "login")
    check_page(client.get("/console/login", headers={"Accept-Language": "en"}), "login en")
