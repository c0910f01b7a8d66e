"""console.js itself, in Chromium, against the view tests' emulator of it (tests/console/forms.py) on
the same hand-made forms (tests/console/test_forms.py SAMPLE): the same form.elements with the same
values, and the same JSON from `ConsoleApi.collect(form)`, as drawn and after the same typing (TYPED).
If console.js changes, this says where the emulator must follow. No server: the page is a file."""

from __future__ import annotations

import json

import pytest

from tests.browser import harness
from tests.console.forms import Form, collect, forms, type_into
from tests.console.test_forms import SAMPLE, TYPED

CONSOLE_JS = harness.ROOT / "volunteer_app" / "console" / "static" / "console.js"

# The state of each form's elements and what console.js collects from it.
STATE_JS = """
var out = {};
Array.prototype.forEach.call(document.forms, function (form) {
  if (!form.id) return;
  out[form.id] = {
    fields: Array.prototype.map.call(form.elements, function (el) {
      return {
        tag: el.tagName.toLowerCase(), name: el.name || "", type: el.type || null,
        value: typeof el.value === "string" ? el.value : null, checked: !!el.checked,
        disabled: !!el.disabled,
        selected: el.tagName !== "SELECT" ? null
          : Array.prototype.map.call(el.options, function (o) { return o.selected; })
      };
    }),
    body: JSON.stringify(window.ConsoleApi.collect(form))
  };
});
return out;
"""

# A manager typing {name: value} into a form, by the rules of forms.type_into (without its checks).
TYPE_JS = """
var form = document.getElementById(arguments[0]), typed = arguments[1];
var skip = ["hidden", "submit", "image", "reset", "button", "file"];
Object.keys(typed).forEach(function (name) {
  var value = typed[name];
  var els = Array.prototype.filter.call(form.elements, function (el) {
    return el.name === name && ["INPUT", "SELECT", "TEXTAREA"].indexOf(el.tagName) >= 0 &&
      skip.indexOf(el.type) < 0;
  });
  if (typeof value === "boolean") {
    els.forEach(function (el) { if (el.type === "checkbox") el.checked = value; });
  } else if (Array.isArray(value)) {
    var values = value.map(String);
    els.forEach(function (el) {
      if (el.type === "checkbox") el.checked = values.indexOf(el.value) >= 0;
      else if (el.multiple) {
        Array.prototype.forEach.call(el.options, function (o) { o.selected = values.indexOf(o.value) >= 0; });
      }
    });
  } else {
    var radios = els.filter(function (el) { return el.type === "radio"; });
    if (radios.length) radios.forEach(function (r) { r.checked = r.value === String(value); });
    else els.forEach(function (el) { if (el.type !== "checkbox") el.value = String(value); });
  }
});
"""


def _state(form: Form) -> dict:
    return {
        "fields": [
            {
                "tag": f.tag,
                "name": f.name,
                "type": f.type,
                "value": f.js_value(),
                "checked": f.checked,
                "disabled": f.disabled,
                "selected": [o.selected for o in f.options] if f.tag == "select" else None,
            }
            for f in form.fields
        ],
        "body": json.loads(json.dumps(collect(form))),
    }


@pytest.fixture
def page(_chromium, tmp_path):
    driver = _chromium("zh-CN")
    harness.reset(driver)
    path = tmp_path / "sample.html"
    path.write_text(SAMPLE.replace("</head>", f'<script src="{CONSOLE_JS.as_uri()}"></script></head>'))
    driver.get(path.as_uri())
    assert driver.execute_script("return typeof window.ConsoleApi"), "console.js did not load"
    return driver


def _browser(driver) -> dict:
    found = driver.execute_script(STATE_JS)
    for state in found.values():
        state["body"] = json.loads(state["body"])
    return found


def test_the_forms_as_drawn_are_the_same(page):
    browser = _browser(page)
    emulated = {f.attrs["id"]: _state(f) for f in forms(SAMPLE) if f.attrs.get("id") and not f.in_template}
    assert sorted(browser) == sorted(emulated)  # (Selenium hands objects back with their keys sorted)
    for form_id, state in emulated.items():
        assert browser[form_id]["fields"] == state["fields"], form_id
        assert browser[form_id]["body"] == state["body"], form_id


@pytest.mark.parametrize(("form_id", "typed", "_changes"), TYPED)
def test_the_forms_after_typing_are_the_same(page, form_id, typed, _changes):
    page.execute_script(TYPE_JS, form_id, typed)
    (form,) = [f for f in forms(SAMPLE) if f.attrs.get("id") == form_id]
    emulated = _state(type_into(form, typed))
    browser = _browser(page)[form_id]
    assert browser["fields"] == emulated["fields"]
    assert browser["body"] == emulated["body"]
