"""The view tests' emulator of console.js (tests/console/forms.py) on hand-made forms: each rule of
console.js's collect/read/put and send, the typing that raises, and the helpers that mirror the pages'
own scripts. tests/browser/test_forms_emulator.py runs the same forms through console.js in Chromium
and compares."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import pytest

from tests.console.forms import (
    choose_volunteers,
    collect,
    forms,
    lookup_url,
    mark_unchanged,
    next_location,
    one_form,
    page_csrf,
    rule_preview_url,
    send,
    show_redemption,
    show_rule_kind,
    tagged,
    type_into,
)

SAMPLE = """<!doctype html>
<html lang="zh-CN"><head><meta name="csrf-token" content="page-csrf"></head><body>
<input form="kinds" name="outside" value="from outside" data-type="string">
<form id="kinds" data-api="/api/v1/things" data-method="patch">
  <input name="text" value="  hello  ">
  <input name="blank" value="   ">
  <input name="kept_blank" value="" data-type="string">
  <input value="no name">
  <input name="skipped" value="x" data-skip>
  <input name="off" value="x" disabled>
  <fieldset disabled><input name="in_disabled_fieldset" value="sent"></fieldset>
  <input name="int" value=" 42 " data-type="int">
  <input name="int_bad" value="4.5" data-type="int">
  <input name="int_negative" value="-7" data-type="int">
  <input name="number" value="2.50" data-type="number">
  <input name="number_word" value="abc" data-type="number">
  <input name="number_exp" value="1e3" data-type="number">
  <input type="number" name="number_input" value="abc" data-type="int">
  <input name="ints" value="5, 15，25、 x 007" data-type="ints">
  <input name="json" value='{"a": [1, 2.0], "b": null}' data-type="json">
  <input name="json_null" value="null" data-type="json">
  <input name="json_bad" value="{nope" data-type="json">
  <input name="bool_true" value="true" data-type="bool">
  <input name="bool_other" value="yes" data-type="bool">
  <input type="datetime-local" name="moment" value="2026-12-05T09:00" data-type="moment" data-offset="+05:30">
  <input type="datetime-local" name="moment_default" value="2026-12-05 09:00:00" data-type="moment">
  <input name="moment_text" value="tomorrow" data-type="moment">
  <input type="datetime-local" name="london_summer" value="2026-07-01T09:30" data-type="moment"
         data-zone="Europe/London" data-offset="+03:00">
  <input type="datetime-local" name="london_winter" value="2026-01-05T09:30" data-type="moment"
         data-zone="europe/london" data-offset="+03:00">
  <input type="datetime-local" name="london_gap" value="2026-03-29T01:30" data-type="moment"
         data-zone="Europe/London">
  <input type="datetime-local" name="london_twice" value="2026-10-25T01:30" data-type="moment"
         data-zone="Europe/London">
  <input type="datetime-local" name="kolkata" value="2026-06-01T00:00" data-type="moment"
         data-zone="Asia/Kolkata">
  <input type="datetime-local" name="unknown_zone" value="2026-07-01T09:30" data-type="moment"
         data-zone="Nowhere/Else" data-offset="+03:00">
  <input type="email" name="email" value=" a@b.cn ">
  <input type="time" name="time" value="9:00">
  <textarea name="note">
line one
line two</textarea>
  <input name="same" value="first"><input name="same" value="second">
  <button type="submit" name="pressed" value="go">Go</button>
  <button type="submit">no name</button>
</form>

<form id="choices" data-api="/api/v1/choices">
  <input type="radio" name="size" value="s"><input type="radio" name="size" value="m" checked>
  <input type="radio" name="size" value="l" checked>
  <input type="radio" name="colour" value="red">
  <input type="checkbox" name="agree">
  <input type="checkbox" name="leader" value="yes" checked>
  <input type="checkbox" name="days" value="1" data-type="ints" checked>
  <input type="checkbox" name="days" value="2" data-type="ints">
  <input type="checkbox" name="days" value="3" data-type="ints" checked>
  <input type="checkbox" name="none_ticked" value="1" data-type="ints">
  <input type="checkbox" name="bad_value" data-type="ints" checked>
  <select name="one"><option value="a">A</option><option value="b" selected>B</option>
    <option>  C  c </option></select>
  <select name="first_enabled"><option disabled value="x">X</option><option value="y">Y</option></select>
  <select name="last_selected"><option value="p" selected>P</option>
    <option value="q" selected>Q</option></select>
  <select name="typed" data-type="int"><option value="">Choose</option>
    <option value="9">Nine</option></select>
  <select name="many" multiple><option value="a" selected>A</option><option value="b">B</option>
    <option value="c" selected>C</option></select>
  <select name="many_ints" multiple data-type="ints"><option value="1">1</option>
    <option value="2" selected>2</option></select>
  <select name="many_none" multiple><option value="a">A</option></select>
  <datalist id="zones"><option value="Asia/Shanghai"><option value="Europe/Paris"></datalist>
</form>

<form id="nested" data-api="/api/v1/audit" data-method="POST" data-then="redirect:/console/x/{id}?n={name}">
  <input name="spec.kind" value="weekly">
  <input name="spec.days" value="1 2" data-type="ints">
  <input type="checkbox" name="spec.days" value="-1" data-type="ints" checked>
  <input type="hidden" name="assignments.0.assignment_id" value="11" data-type="int">
  <input name="assignments.0.minutes" value="30" data-type="int">
  <input type="hidden" name="assignments.1.assignment_id" value="12" data-type="int">
  <input name="assignments.1.minutes" value="" data-type="int">
  <input name="assignments.3.reason" value="late">
  <input name="a.b.c" value="deep">
</form>

<form id="picker" data-api="/api/v1/orders/5/dispatch">
  <input type="hidden" name="mode" value="assign">
  <fieldset class="chosen">
    <input type="hidden" name="volunteer_ids" data-skip><div data-chosen></div>
  </fieldset>
  <input name="note" value="">
</form>

<form id="rule" data-api="/api/v1/sites/1/service-day-rules"
      data-preview="/api/v1/sites/1/service-day-rules/preview">
  <select name="spec.kind" data-kind><option value="days_of_month">Days</option>
    <option value="nth_week">Week</option></select>
  <div data-kinds="days_of_month">
    <input name="spec.days" data-type="ints">
    <input type="checkbox" name="spec.days" data-type="ints" value="-1">
  </div>
  <div data-kinds="nth_week" hidden>
    <select name="spec.nth" data-type="int" disabled><option value="1">1</option>
      <option value="-1">last</option></select>
    <input type="checkbox" name="spec.weekdays" data-type="ints" value="0" checked disabled>
    <input type="checkbox" name="spec.weekdays" data-type="ints" value="2" checked disabled>
  </div>
  <input name="spec.start_time" type="time" value="09:00">
  <input name="title" value="清洁日">
</form>

<form id="settings" data-api="/api/v1/sites/1/settings" data-method="PATCH" data-settings>
  <input name="radius" value="500" data-type="int">
  <input name="zone" value="Asia/Shanghai">
  <select name="level"><option value="station" selected>S</option><option value="center">C</option></select>
  <input name="w.a" value="1" data-type="number" data-group="w">
  <input name="w.b" value="2" data-type="number" data-group="w">
  <button type="submit" form="remove-radius">Remove</button>
</form>
<form id="remove-radius" data-api="/api/v1/sites/1/settings" data-method="PATCH">
  <input type="hidden" name="radius" value="null" data-type="json">
</form>

<form id="sessions" data-api="/api/v1/auth/sessions" data-method="DELETE">
  <button type="submit">End</button></form>
<form id="search" data-api="/api/v1/search" data-method="GET">
  <input name="q" value="王 小"><input name="ids" value="3,4" data-type="ints">
  <input name="on" type="checkbox" checked>
  <input name="n" value="1.5" data-type="number"><input name="j" value="null" data-type="json">
</form>
<form id="lookup" method="get" action="" data-lookup="/api/v1/redemptions/"><input name="code"></form>
<template id="card"><div>
  <form class="fulfil" data-api="" data-then="event"><button>Fulfil</button></form>
</div></template>
</body></html>
"""

# The bodies console.js collects from SAMPLE's forms as drawn (each checked by hand against console.js).
DRAWN = {
    "kinds": {
        "outside": "from outside",  # form="kinds": first in tree order
        "text": "  hello  ",  # not trimmed
        "kept_blank": "",  # data-type="string" keeps an empty value
        "in_disabled_fieldset": "sent",  # el.disabled is the element's own attribute
        "int": 42,
        "int_bad": "4.5",
        "int_negative": -7,
        "number": 2.5,
        "number_word": "abc",
        "number_exp": 1000,
        "ints": [5, 15, 25, "x", 7],
        "json": {"a": [1, 2], "b": None},
        "json_null": None,
        "json_bad": "{nope",
        "bool_true": True,
        "bool_other": "yes",
        "moment": "2026-12-05T09:00:00+05:30",
        "moment_default": "2026-12-05T09:00:00+08:00",  # the browser normalises "… 09:00:00" to "…T09:00"
        "moment_text": "tomorrow",
        # data-zone: the zone's offset at the time typed (a skipped or repeated time settles on one side)
        "london_summer": "2026-07-01T09:30:00+01:00",
        "london_winter": "2026-01-05T09:30:00+00:00",  # Intl takes a zone in any case
        "london_gap": "2026-03-29T01:30:00+00:00",  # skipped: read before the change (02:30 BST)
        "london_twice": "2026-10-25T01:30:00+00:00",
        "kolkata": "2026-06-01T00:00:00+05:30",
        "unknown_zone": "2026-07-01T09:30:00+03:00",  # a zone the browser does not know: data-offset
        "email": "a@b.cn",  # the browser trims an email
        "note": "line one\nline two",  # the newline after <textarea> is not the value's
        "same": "second",  # the last of a name wins
        "pressed": "go",  # a named button is one of form.elements
    },
    "choices": {
        "size": "l",
        "agree": False,
        "leader": True,  # a checkbox is its checkedness, not its value
        "days": [1, 3],
        "none_ticked": [],
        "bad_value": [None],  # parseInt("on") is NaN: null
        "one": "b",
        "first_enabled": "y",
        "last_selected": "q",
        "many": ["a", "c"],
        "many_ints": [2],
        "many_none": [],
    },
    "nested": {
        "spec": {"kind": "weekly", "days": [1, 2, -1]},
        "assignments": [
            {"assignment_id": 11, "minutes": 30},
            {"assignment_id": 12},
            None,
            {"reason": "late"},
        ],
        "a": {"b": {"c": "deep"}},
    },
    "picker": {"mode": "assign"},
    # an unticked ints checkbox puts [] unless `name in body`, which a dotted name never is
    "rule": {"spec": {"kind": "days_of_month", "days": [], "start_time": "09:00"}, "title": "清洁日"},
    "settings": {"radius": 500, "zone": "Asia/Shanghai", "level": "station", "w": {"a": 1, "b": 2}},
    "remove-radius": {"radius": None},
    "sessions": {},
    "search": {"q": "王 小", "ids": [3, 4], "on": True, "n": 1.5, "j": None},
}

# What a manager types, and how the body differs then from the one as drawn (a name: its new value,
# None: left out; "a.1.b": an item inside). The browser test types the same.
TYPED = [
    (
        "kinds",
        {"text": "bye", "int": "x1", "number_input": "12", "note": "a\r\nb"},
        {"text": "bye", "int": "x1", "number_input": 12, "note": "a\nb"},
    ),
    (
        "kinds",
        {"number_input": "1e2", "moment": "2026-01-02T03:04:05", "blank": " "},
        {"number_input": "1e2", "moment": "2026-01-02T03:04:05+05:30", "blank": None},  # int: digits only
    ),
    ("kinds", {"number_input": "twelve", "moment": "2026-13-02T03:04"}, {"moment": None}),  # el.value ""
    (
        "kinds",
        {"number_input": " 12 ", "moment": "2026-01-02T03:04:00", "time": "18:30"},
        {"moment": "2026-01-02T03:04:00+05:30", "time": "18:30"},  # seconds :00 are not the value's
    ),
    (
        "choices",
        {"size": "s", "agree": True, "days": [2], "one": "C c"},
        {"size": "s", "agree": True, "days": [2], "one": "C c"},
    ),
    (
        "choices",
        {"leader": False, "days": [], "many": ["b"], "many_ints": ["1", 2]},
        {"leader": False, "days": [], "many": ["b"], "many_ints": [1, 2]},
    ),
    (
        "nested",
        {"spec.days": "", "assignments.1.minutes": "45"},
        {"spec": {"kind": "weekly", "days": [-1]}, "assignments.1.minutes": 45},
    ),
]


@pytest.fixture(autouse=True)
def _clean():
    """Overrides tests/conftest.py's: these tests use no database."""


def by_id(html: str = SAMPLE) -> dict:
    return {f.attrs.get("id"): f for f in forms(html) if f.attrs.get("id")}


# ---- reading the page ---------------------------------------------------------------------------------


def test_the_forms_and_their_fields_in_form_elements_order():
    found = by_id()
    assert list(found) == [
        "kinds",
        "choices",
        "nested",
        "picker",
        "rule",
        "settings",
        "remove-radius",
        "sessions",
        "search",
        "lookup",
    ]
    kinds = found["kinds"]
    assert [f.name for f in kinds.fields][:3] == ["outside", "text", "blank"]  # form= first, tree order
    assert kinds.method == "PATCH" and kinds.api == "/api/v1/things" and kinds.then == "reload"
    assert [f.tag for f in kinds.fields if f.tag == "fieldset"] == ["fieldset"]
    settings = found["settings"]
    assert "radius" in settings.names() and "button" not in [f.tag for f in settings.fields]
    assert found["remove-radius"].names() == {"radius"}  # the button with form= is this form's
    assert [f.tag for f in found["remove-radius"].fields] == ["button", "input"]
    choices = found["choices"]
    assert [o.value for o in choices.field("one").options] == ["a", "b", "C c"]
    assert [o.value for o in choices.field("many").options] == ["a", "b", "c"]
    assert choices.field("first_enabled").js_value() == "y"
    (card,) = [f for f in forms(SAMPLE) if f.in_template]
    assert card.attrs["class"] == "fulfil" and card.api == ""
    assert page_csrf(SAMPLE) == "page-csrf" and page_csrf("<p>") == ""
    assert [a["id"] for a in tagged(SAMPLE, "data-preview")] == ["rule"]


def test_a_form_inside_a_form_is_a_page_error():
    with pytest.raises(ValueError, match="inside a <form>"):
        forms("<form data-api='/a'><form data-api='/b'></form></form>")


def test_one_form_finds_exactly_one():
    assert one_form(SAMPLE, api="/api/v1/choices").attrs["id"] == "choices"
    assert one_form(SAMPLE, ends="/settings", data_settings=True).attrs["id"] == "settings"
    assert one_form(SAMPLE, ends="/settings", has="zone").attrs["id"] == "settings"
    assert one_form(SAMPLE, id="remove-radius").method == "PATCH"
    with pytest.raises(AssertionError):
        one_form(SAMPLE, ends="/settings")


# ---- collect, read, put ----------------------------------------------------------------------------------


@pytest.mark.parametrize("form_id", list(DRAWN))
def test_collect_as_drawn(form_id):
    assert collect(by_id()[form_id]) == DRAWN[form_id]


@pytest.mark.parametrize(("form_id", "typed", "changes"), TYPED)
def test_collect_after_typing(form_id, typed, changes):
    want = copy.deepcopy(DRAWN[form_id])
    for name, value in changes.items():
        if "." in name:  # an item inside, by its path
            *path, last = name.split(".")
            target = want
            for part in path:
                target = target[int(part)] if isinstance(target, list) else target[part]
            target[last] = value
        elif value is None:
            want.pop(name, None)
        else:
            want[name] = value
    assert collect(by_id()[form_id], typed) == want


def test_typing_what_the_page_does_not_offer_raises():
    found = by_id()
    with pytest.raises(LookupError, match="no field named 'volunteer_ids'"):
        collect(found["kinds"], {"volunteer_ids": [1]})  # no injected fields
    with pytest.raises(ValueError, match="hidden"):
        collect(found["nested"], {"assignments.0.assignment_id": "99"})
    with pytest.raises(ValueError, match="disabled"):
        collect(found["kinds"], {"off": "y"})
    with pytest.raises(ValueError, match="no option"):
        collect(found["choices"], {"one": "z"})
    with pytest.raises(ValueError, match="no radio"):
        collect(found["choices"], {"size": "xl"})
    with pytest.raises(ValueError, match="no checkbox"):
        collect(found["choices"], {"days": [4]})
    with pytest.raises(ValueError, match="one checkbox"):
        collect(found["choices"], {"days": True})
    with pytest.raises(ValueError, match="submit"):
        collect(found["kinds"], {"pressed": "stop"})
    with pytest.raises(ValueError, match=r"activities\.js"):
        collect(found["rule"], {"spec.kind": "nth_week"})
    with pytest.raises(TypeError):
        collect(found["kinds"], {"text": None})
    # typing makes a copy: the form as drawn is unchanged
    assert collect(found["kinds"]) == DRAWN["kinds"]


def test_put_through_a_value_that_is_not_an_object_throws_as_console_js_would():
    (form,) = forms('<form data-api="/x"><input name="a" value="1"><input name="a.b" value="2"></form>')
    with pytest.raises(TypeError, match="would throw"):
        collect(form)


# ---- send -------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    status_code: int


@dataclass
class Client:
    """Records what send() asks the test client for."""

    status: int = 200
    calls: list[dict] = field(default_factory=list)

    def open(self, url, *, method, headers, data):
        self.calls.append({"url": url, "method": method, "headers": headers, "data": data})
        return Answer(self.status)


def test_send_as_console_js_sends():
    found = by_id()
    client = Client(status=422)
    form = found["kinds"]
    key = form.key
    send(client, form, "csrf-1", collect(form, {"text": "x"}), lang="en")
    call = client.calls[-1]
    assert (call["url"], call["method"]) == ("/api/v1/things", "PATCH")
    assert call["headers"] == {
        "Accept": "application/json",
        "X-CSRF-Token": "csrf-1",
        "Idempotency-Key": key,
        "Accept-Language": "en",
        "Content-Type": "application/json",
    }
    assert '"text":"x"' in call["data"]
    send(client, form, None)  # refused: the same key again (a retry of the same form)
    assert client.calls[-1]["headers"]["Idempotency-Key"] == key
    assert client.calls[-1]["headers"]["X-CSRF-Token"] == ""
    client.status = 201
    send(client, form, "csrf-1")
    assert form.key != key  # after an OK answer the form has a new key
    assert client.calls[-1]["headers"]["Idempotency-Key"] == key

    send(client, found["sessions"], "c")  # a DELETE with an empty body sends none
    assert client.calls[-1]["data"] is None and "Content-Type" not in client.calls[-1]["headers"]
    assert client.calls[-1]["method"] == "DELETE"
    send(client, found["search"], "c")  # GET: the body as query parameters
    assert (
        client.calls[-1]["url"] == "/api/v1/search?q=%E7%8E%8B+%E5%B0%8F&ids=%5B3%2C4%5D&on=true&n=1.5&j=null"
    )
    assert client.calls[-1]["data"] is None
    send(client, found["choices"], "c")  # POST by default
    assert client.calls[-1]["method"] == "POST"


def test_send_takes_only_what_collect_made_for_that_form():
    found = by_id()
    client = Client()
    with pytest.raises(TypeError):
        send(client, found["kinds"], "c", {"text": "mine"})
    with pytest.raises(TypeError):
        send(client, found["kinds"], "c", collect(found["choices"]))
    body = collect(found["kinds"])
    body["volunteer_ids"] = [1]
    with pytest.raises(ValueError, match="changed"):
        send(client, found["kinds"], "c", body)
    (card,) = [f for f in forms(SAMPLE) if f.in_template]
    with pytest.raises(ValueError, match="without data-api"):
        send(client, card, "c")
    assert client.calls == []


def test_next_location_mirrors_done():
    found = by_id()
    assert next_location(found["nested"], {"id": 7, "name": "a b"}) == "/console/x/7?n=a%20b"
    assert next_location(found["nested"], {}) == "/console/x/?n="
    assert next_location(found["kinds"], {}) == "reload"
    (card,) = [f for f in forms(SAMPLE) if f.in_template]
    assert next_location(card, {}) is None
    (redirect,) = forms('<form data-api="/x" data-then="redirect"></form>')
    assert next_location(redirect, {"next": "/console/orders"}) == "/console/orders"
    assert next_location(redirect, None) == "/console/"


# ---- the pages' own scripts ---------------------------------------------------------------------------


def test_choose_volunteers_adds_checked_ints_inputs_in_the_chosen_box():
    picker = by_id()["picker"]
    chosen = choose_volunteers(picker, 7, 9, 7)
    assert collect(chosen, {"note": "快"}) == {"mode": "assign", "volunteer_ids": [7, 9], "note": "快"}
    assert [f.name for f in chosen.fields if f.tag == "input"] == [
        "mode",
        "volunteer_ids",
        "volunteer_ids",
        "volunteer_ids",
        "note",
    ]
    assert collect(choose_volunteers(chosen, 9)) == collect(chosen)  # chosen once
    assert collect(chosen, {"volunteer_ids": ["9"]})["volunteer_ids"] == [9]  # the manager unticks one
    assert collect(picker) == {"mode": "assign"}  # the page as drawn is unchanged
    with pytest.raises(LookupError):
        choose_volunteers(by_id()["kinds"], 1)


def test_show_rule_kind_enables_the_kinds_fields_only():
    rule = by_id()["rule"]
    with pytest.raises(ValueError, match="disabled"):
        collect(rule, {"spec.nth": "1"})
    weeks = show_rule_kind(rule, "nth_week")
    assert collect(weeks, {"spec.nth": "-1", "spec.weekdays": ["2"]}) == {
        "spec": {"kind": "nth_week", "nth": -1, "weekdays": [2], "start_time": "09:00"},
        "title": "清洁日",
    }
    days = show_rule_kind(weeks, "days_of_month")
    assert collect(days, {"spec.days": "5, 15"}) == {
        "spec": {"kind": "days_of_month", "days": [5, 15], "start_time": "09:00"},
        "title": "清洁日",
    }
    both = [("spec.days", "10"), ("spec.days", [-1])]  # a name with a text field and a checkbox
    assert collect(days, both)["spec"]["days"] == [10, -1]
    assert rule_preview_url(weeks) == (
        "/api/v1/sites/1/service-day-rules/preview?kind=nth_week&nth=1&weekdays=0&weekdays=2"
        "&start_time=09%3A00&count=5"
    )
    with pytest.raises(ValueError, match="no kind"):
        show_rule_kind(rule, "yearly")


def test_mark_unchanged_sends_only_what_changed():
    settings = by_id()["settings"]
    assert collect(mark_unchanged(settings)) == {}
    changed = mark_unchanged(type_into(settings, {"radius": "800", "w.b": "3"}))
    assert collect(changed) == {"radius": 800, "w": {"a": 1, "b": 3}}  # a group is sent whole
    assert collect(mark_unchanged(type_into(settings, {"level": "center"}))) == {"level": "center"}
    back = mark_unchanged(type_into(changed, {"radius": "500"}))
    assert collect(back) == {"w": {"a": 1, "b": 3}}


def test_the_redemption_lookup_and_card():
    lookup = by_id()["lookup"]
    assert lookup_url(lookup, " ab cd\u3000ef ") == "/api/v1/redemptions/ABCDEF"
    (card,) = [f for f in forms(SAMPLE) if f.in_template]
    shown = show_redemption(card, {"code": "AB/CD", "status": "issued"})
    assert shown.api == "/api/v1/redemptions/AB%2FCD/fulfil" and not shown.in_template
    assert shown.key != card.key  # a card cloned afresh: a key of its own
    client = Client()
    send(client, shown, "c")
    assert client.calls[-1]["url"] == "/api/v1/redemptions/AB%2FCD/fulfil"
    assert show_redemption(card, {"code": "AB", "status": "fulfilled"}) is None  # no form on the card
