"""The console's Settings page: a site's settings in reach, where each value comes from, the form that
PATCHes only what changed (through the API with the cookie and CSRF) and the removal of an override.
The forms are sent as console.js sends them after settings.js marked the unchanged fields
(tests/console/forms.py)."""

from __future__ import annotations

import re

import pytest

from tests.console.forms import Collected, Form, collect, mark_unchanged, one_form, send, type_into
from tests.console.test_stats import template_words
from tests.support import console_sign_in
from volunteer_app.console import settings
from volunteer_app.console.i18n import ZH
from volunteer_app.sites.models import RANKING_COMPONENTS
from volunteer_app.sites.schemas import SettingsValues

API = "/api/v1"


def settings_page(client, site_id: int, **headers):
    return client.get(f"/console/settings?site={site_id}", headers=headers)


def main_form(html: str) -> Form:
    return one_form(html, data_settings=True)


def changed(form: Form, typed: dict) -> Collected:
    """What the settings form sends after the manager typed `typed` (settings.js skips the rest)."""
    return collect(mark_unchanged(type_into(form, typed)))


def row(html: str, key: str) -> str:
    return re.search(rf'<tr data-setting="{key}">.*?</tr>', html, re.S).group(0)


def test_anonymous_volunteer_and_out_of_reach(app, client, world):
    s1 = world.sites["S1"]
    response = settings_page(client, s1)
    assert response.status_code == 302 and response.headers["Location"].startswith(
        "/console/login?next=/console/settings"
    )
    console_sign_in(app, client, world.vol_s1.id)
    assert settings_page(client, s1).status_code == 403
    for person in ("mgr_s2", "mgr_s4"):
        console_sign_in(app, client, world.people[person].id)
        response = settings_page(client, s1)
        assert response.status_code == 404
        assert "站点S1" not in response.text and "data-settings" not in response.text
    console_sign_in(app, client, world.mgr_s1.id)
    assert settings_page(client, world.sites["I1"]).status_code == 404  # the level above: not its own
    for person, site in (("mgr_s1", "S1"), ("mgr_c1", "S1"), ("admin", "S4")):
        console_sign_in(app, client, world.people[person].id)
        response = settings_page(client, world.sites[site])
        assert response.status_code == 200
        assert f"设置 · 站点{site}" in response.text
        assert "style=" not in response.text


def test_each_value_says_where_it_comes_from(app, client, world):
    c1, s1 = world.sites["C1"], world.sites["S1"]
    assert (
        client.patch(
            f"{API}/sites/{c1}/settings", json={"grab_max_open": 5}, headers=world.mgr_c1.headers
        ).status_code
        == 200
    )
    console_sign_in(app, client, world.mgr_s1.id)
    html = settings_page(client, s1).text
    grab = row(html, "grab_max_open")
    assert 'name="grab_max_open" value="5"' in grab and "继承自 站点C1" in grab
    assert "恢复继承" not in grab  # not this site's own: nothing to remove here
    level = row(html, "dispatch_level")
    assert '<option value="station" selected>' in level and "系统默认" in level
    assert 'value="100, 300, 600, 1000, 1500"' in row(html, "star_thresholds_hours")
    weights = row(html, "ranking_weights")
    assert 'name="ranking_weights.sessions" value="15"' in weights
    english = settings_page(client, s1, **{"Accept-Language": "en"}).text
    assert "Inherited from 站点C1" in row(english, "grab_max_open") and "Who dispatches orders" in english


def test_the_forms_fields_are_the_apis_and_a_change_is_saved_then_removed(app, client, world):
    s1 = world.sites["S1"]
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    form = main_form(settings_page(client, s1).text)
    assert (form.api, form.method) == (f"{API}/sites/{s1}/settings", "PATCH")
    names = form.names()
    fields = set(SettingsValues().fields)
    weights = {f"ranking_weights.{c}" for c in RANKING_COMPONENTS}
    levels = {f"supervision_due_days.{level}" for level in ("red", "yellow", "green")}
    grouped = weights | levels
    assert grouped <= names and names - grouped == fields - {"ranking_weights", "supervision_due_days"}

    body = changed(form, {"checkin_radius_m": "800"})
    assert body == {"checkin_radius_m": 800}  # the unchanged fields are left out
    response = send(client, form, csrf, body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["overrides"] == {"checkin_radius_m": 800}
    html = settings_page(client, s1).text
    radius = row(html, "checkin_radius_m")
    assert 'value="800"' in radius and "本站设置" in radius and 'form="remove-checkin_radius_m"' in radius

    remove = one_form(html, id="remove-checkin_radius_m")
    assert remove.method == "PATCH" and remove.field("checkin_radius_m").data("type") == "json"
    assert collect(remove) == {"checkin_radius_m": None}
    assert [f.tag for f in remove.fields] == ["button", "input"]  # its button sits in the row (form=)
    response = send(client, remove, csrf)
    assert response.status_code == 200 and response.get_json()["overrides"] == {}
    radius = row(settings_page(client, s1).text, "checkin_radius_m")
    assert 'value="500"' in radius and "系统默认" in radius


def test_the_weights_are_sent_as_one_table(app, client, world):
    i1 = world.sites["I1"]
    csrf = console_sign_in(app, client, world.mgr_i1.id)
    form = main_form(settings_page(client, i1).text)
    table = {c: float(form.field(f"ranking_weights.{c}").value) for c in RANKING_COMPONENTS}
    body = changed(form, {"ranking_weights.sessions": "40"})
    assert body == {"ranking_weights": {**table, "sessions": 40}}  # one changed: all of them sent
    response = send(client, form, csrf, body)
    assert response.status_code == 200
    assert response.get_json()["effective"]["ranking_weights"]["sessions"] == 40
    assert 'name="ranking_weights.sessions" value="40"' in settings_page(client, i1).text


@pytest.mark.parametrize(
    ("typed", "field", "shown"),
    [
        ({"checkin_radius_m": "5"}, "checkin_radius_m", "10"),
        ({"star_thresholds_hours": "300, 100"}, "star_thresholds_hours", None),
        (
            {f"ranking_weights.{c}": "0" for c in RANKING_COMPONENTS},
            "ranking_weights",
            "至少一个权重须大于 0",
        ),
        ({"timezone": "Mars/Olympus"}, "timezone", None),
    ],
)
def test_a_bad_value_is_refused_with_its_field_error_and_changes_nothing(
    app, client, world, typed, field, shown
):
    s1 = world.sites["S1"]
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    form = main_form(settings_page(client, s1).text)
    response = send(client, form, csrf, changed(form, typed))
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]
    assert field in errors
    if shown:
        assert shown in str(errors[field])
    assert client.get(f"{API}/sites/{s1}/settings").get_json()["overrides"] == {}
    assert any(name == field or name.startswith(field + ".") for name in form.names())  # shown by it
    english = send(client, form, csrf, changed(form, typed), lang="en")
    assert english.get_json()["message"] != response.get_json()["message"]


def test_the_dispatch_level_offers_only_what_the_api_takes(app, client, world):
    s1 = world.sites["S1"]
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    form = main_form(settings_page(client, s1).text)
    assert [o.value for o in form.field("dispatch_level").options] == [c for c, _ in settings.DISPATCH_LEVELS]
    assert changed(form, {"dispatch_level": "center"}) == {"dispatch_level": "center"}
    with pytest.raises(ValueError, match="no option"):
        changed(form, {"dispatch_level": "province"})  # the page cannot send it; the API refuses it:
    response = client.patch(
        f"{API}/sites/{s1}/settings", json={"dispatch_level": "province"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 422 and "dispatch_level" in response.get_json()["errors"]["json"]


def test_nothing_changed_is_refused_and_without_csrf_nothing_happens(app, client, world):
    s1 = world.sites["S1"]
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    form = main_form(settings_page(client, s1).text)
    unchanged = changed(form, {"grab_max_open": form.field("grab_max_open").value})
    assert unchanged == {}
    response = send(client, form, csrf, unchanged)
    assert response.status_code == 422 and response.get_json()["error"] == "validation.nothing_to_change"
    response = send(client, form, "", changed(form, {"grab_max_open": "9"}))
    assert response.status_code == 403 and response.get_json()["error"] == "auth.csrf"
    assert client.get(f"{API}/sites/{s1}/settings").get_json()["overrides"] == {}


def test_a_center_manager_finds_the_sites_below(app, client, world):
    console_sign_in(app, client, world.mgr_c1.id)
    html = settings_page(client, world.sites["C1"]).text
    links = re.findall(r'<a href="/console/settings\?site=(\d+)">([^<]+)</a>', html)
    assert links == [(str(world.sites["I1"]), "站点I1"), (str(world.sites["I2"]), "站点I2")]
    station = settings_page(client, world.sites["S1"]).text
    assert "<h2>下级站点</h2>" not in station and "<h2>下级站点</h2>" in html


def test_every_word_of_the_page_has_its_chinese(app):
    words = template_words("settings.html")
    for title, fields in settings.GROUPS:
        words |= {title} | {f.label for f in fields} | {f.unit for f in fields if f.unit}
        words |= {f.hint for f in fields if f.hint}
    words |= {label for _code, label in settings.DISPATCH_LEVELS}
    assert len(words) > 30
    assert sorted(word for word in words if word not in ZH) == []
