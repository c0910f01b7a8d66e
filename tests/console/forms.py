"""The console's forms as a browser running console.js sends them: the one emulator of the view tests.

It mirrors `volunteer_app/console/static/console.js` line by line, so that a view test proves that the
JSON *console.js* would send works, not a test's own idea of it. Change it only together with console.js
(tests/browser/test_forms_emulator.py runs both on the same forms in Chromium and compares them).

- `forms(html)` reads every <form> of a page as the browser's DOM holds it (html.parser from the
  stdlib): each form's listed elements in tree order (`form.elements`, with `form="id"` owners), their
  values as `el.value` reads them (options, `selected`, textarea text, the value sanitisation of
  number/date/time/datetime-local/email/url inputs), `checked`, `disabled`, `data-*`.
- `type_into(form, typed)` is what a manager does before pressing the button: typing into a text
  field, picking an option or a radio, ticking checkboxes. A name the form has no field for raises
  (a test cannot inject a field the page never draws), and so do hidden, disabled and read-only fields
  (nobody types into them) and anything the field cannot hold (an option that is not there).
- `collect(form, typed)` mirrors console.js `collect` (with `read` for each field's value and `put`
  for where it goes in the body); `send(client, form, csrf, body)` mirrors console.js `send`
  (method, URL, GET query, the headers, the Idempotency-Key kept until an answer is OK); `send_code`
  mirrors its [data-send-code] click (the sign-in's SMS code).
- What a page's own script does to a form before console.js collects it has its own helper here,
  mirroring that script: `choose_volunteers` and `picker_url` (orders.js `choose`, `search`),
  `show_rule_kind` and `rule_preview_url` (activities.js `showKind`, `previewUrl`), `mark_unchanged`
  (settings.js `mark`),
  `lookup_url` and `show_redemption` (timebank.js `lookup`, `show`). `next_location` mirrors
  console.js `done`/`fill`.

Not emulated: the browser's own checks before a submit (required, min/max, maxlength, pattern), which
stop the submit event before console.js sees it; a test may still send what they would stop, to see
the API's answer.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = [  # noqa: RUF022 (in the order of the docstring)
    "forms", "one_form", "page_csrf", "tagged", "Form", "Field", "type_into", "collect", "Collected", "send",
    "next_location", "send_code", "choose_volunteers", "show_rule_kind", "rule_preview_url", "mark_unchanged",
    "lookup_url", "show_redemption",
]  # fmt: skip

# ---- the DOM, as far as forms need it -----------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
LISTED = {"button", "fieldset", "input", "object", "output", "select", "textarea"}  # form.elements' kinds
INPUT_TYPES = {
    "hidden", "text", "search", "tel", "url", "email", "password", "date", "month", "week", "time",
    "datetime-local", "number", "range", "color", "checkbox", "radio", "file", "submit", "image", "reset",
    "button",
}  # fmt: skip
NOT_TYPED = {"hidden", "submit", "image", "reset", "button", "file"}  # inputs nobody types into
# JavaScript's white space (String.prototype.trim, \s): WhiteSpace and LineTerminator.
JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"  # noqa: E501
ASCII_SPACE = "\t\n\f\r "


class Node:
    """An element: its tag, attributes (the first of a repeated name wins, as in HTML) and parent."""

    def __init__(self, tag: str, attrs: dict[str, str], parent: Node | None, tree: int):
        self.tag, self.attrs, self.parent, self.tree = tag, attrs, parent, tree

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


@dataclass
class Option:
    value: str  # its value attribute, else its text with white space collapsed
    selected: bool  # selectedness now
    default_selected: bool  # its `selected` attribute (defaultSelected)
    disabled: bool


@dataclass
class Field:
    """One of a form's listed elements (`form.elements`), with its state now."""

    tag: str
    attrs: dict[str, str]
    node: Node = field(repr=False)
    order: tuple[int, int] = field(repr=False)  # tree order; an input a script adds sorts where it goes
    value: str | None = ""  # input, textarea, output: `el.value` (None: fieldset, object: undefined)
    default: str | None = ""  # `el.defaultValue`
    checked: bool = False
    options: list[Option] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.attrs.get("name", "")

    @property
    def type(self) -> str:
        """`el.type`."""
        if self.tag == "input":
            kind = self.attrs.get("type", "text").lower()
            return kind if kind in INPUT_TYPES else "text"
        if self.tag == "button":
            kind = self.attrs.get("type", "submit").lower()
            return kind if kind in ("submit", "reset", "button") else "submit"
        if self.tag == "select":
            return "select-multiple" if self.multiple else "select-one"
        return self.tag

    @property
    def multiple(self) -> bool:
        return self.tag == "select" and "multiple" in self.attrs

    @property
    def disabled(self) -> bool:
        """`el.disabled`: the element's own attribute (a disabled fieldset does not change it)."""
        return self.tag in ("button", "fieldset", "input", "select", "textarea") and "disabled" in self.attrs

    def data(self, key: str) -> str | None:
        """`el.dataset[key]` (None: undefined)."""
        return self.attrs.get(f"data-{key}")

    def js_value(self) -> str | None:
        """`el.value` (None: undefined)."""
        if self.tag == "select":
            chosen = [o for o in self.options if o.selected]
            return chosen[0].value if chosen else ""
        return self.value


@dataclass
class _Shared:
    """What belongs to the DOM form itself, shared by the copies typing makes: its Idempotency-Key."""

    key: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Form:
    """A <form> of a page: its attributes and its fields in `form.elements` order."""

    attrs: dict[str, str]
    node: Node = field(repr=False)
    fields: list[Field] = field(default_factory=list)
    in_template: bool = False  # inside a <template> (a script clones it into the page)
    chosen_box: Node | None = field(default=None, repr=False)  # its [data-chosen] box (orders.js adds to it)
    chosen_end: tuple[int, int] | None = field(default=None, repr=False)  # where that box ends
    shared: _Shared = field(default_factory=_Shared, repr=False)

    @property
    def api(self) -> str | None:
        return self.attrs.get("data-api")

    @property
    def method(self) -> str:
        return (self.attrs.get("data-method") or "POST").upper()

    @property
    def then(self) -> str:
        return self.attrs.get("data-then") or "reload"

    @property
    def key(self) -> str:
        """The Idempotency-Key console.js sends next (`form.dataset.key`)."""
        return self.shared.key

    def names(self) -> set[str]:
        """The names of the form's named fields, as drawn (disabled and data-skip ones too)."""
        return {f.name for f in self.fields if f.name}

    def named(self, name: str) -> list[Field]:
        return [f for f in self.fields if f.name == name]

    def field(self, name: str) -> Field:
        """The one field of that name."""
        found = self.named(name)
        if len(found) != 1:
            raise LookupError(f"{len(found)} fields named {name!r} on the form for {self.api!r}")
        return found[0]

    def copy(self) -> Form:
        """The same DOM form in another state (shares its Idempotency-Key)."""
        twin = copy.copy(self)
        twin.attrs = dict(self.attrs)
        twin.fields = [copy.copy(f) for f in self.fields]
        for f in twin.fields:
            f.attrs = dict(f.attrs)
            f.options = [copy.copy(o) for o in f.options]
        return twin


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[Node] = []
        self.forms: list[Form] = []
        self.by_node: dict[int, Form] = {}
        self.pointer: Form | None = None  # the HTML parser's form element pointer
        self.pending: list[tuple[Field, str]] = []  # fields with form="id", resolved at the end
        self.ids: dict[tuple[int, str], Node] = {}  # (tree, id) → the first element with it
        self.owned: list[tuple[Field, Form | None]] = []
        self.texts: dict[int, list[str]] = {}  # textarea, option, output: their text
        self.templates = 0  # each <template>'s content is a tree of its own: its number
        self.tree = 0  # the tree the parser is in (0: the document)
        self.trees: list[int] = []  # the trees around the open <template>s
        self.count = 0
        self.nodes: list[Node] = []  # every element, in tree order

    def _next(self) -> tuple[int, int]:
        self.count += 1
        return (self.count, 0)

    def _in_template(self) -> bool:
        return any(n.tag == "template" for n in self.stack)

    def handle_starttag(self, tag, attrs):
        a: dict[str, str] = {}
        for key, value in attrs:
            a.setdefault(key, value if value is not None else "")
        top = self.stack[-1] if self.stack else None
        if tag == "option" and top is not None and top.tag == "option":
            self.handle_endtag("option")  # an <option> ends the open one
            top = self.stack[-1] if self.stack else None
        order = self._next()
        node = Node(tag, a, top, self.tree)
        self.nodes.append(node)
        if "id" in a:
            self.ids.setdefault((node.tree, a["id"]), node)
        if tag == "form":
            if self.pointer is not None and not self._in_template():
                raise ValueError("a <form> inside a <form>: the browser ignores the inner one; fix the page")
            form = Form(attrs=a, node=node, in_template=self._in_template())
            self.forms.append(form)
            self.by_node[id(node)] = form
            if not self._in_template():
                self.pointer = form
        if tag == "option":
            select = next((n for n in node.ancestors() if n.tag in ("select", "datalist")), None)
            owner = self._field_of(select) if select is not None and select.tag == "select" else None
            if owner is not None:
                disabled = "disabled" in a or any(
                    n.tag == "optgroup" and "disabled" in n.attrs for n in node.ancestors() if n is not select
                )
                owner.options.append(Option(a.get("value", ""), False, "selected" in a, disabled))
                node.option = (owner, len(owner.options) - 1, "value" in a)
        if tag in LISTED and not (tag == "input" and a.get("type", "").lower() == "image"):
            self._listed(tag, a, node, order)
        if tag in ("textarea", "option", "output"):
            self.texts[id(node)] = []
        if tag not in VOID:
            self.stack.append(node)
        if tag == "template":
            self.templates += 1
            self.trees.append(self.tree)
            self.tree = self.templates

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)  # "<div/>" opens a div in HTML: the slash means nothing

    def _field_of(self, node: Node) -> Field | None:
        return getattr(node, "field", None)

    def _listed(self, tag: str, a: dict[str, str], node: Node, order) -> None:
        f = Field(tag=tag, attrs=a, node=node, order=order)
        node.field = f
        if tag == "input":
            kind = f.type
            if kind in ("checkbox", "radio"):
                f.value = f.default = a.get("value", "on")
                f.checked = "checked" in a
            else:
                f.value = f.default = _sanitize(kind, a.get("value", ""), a)
        elif tag == "button":
            f.value = f.default = a.get("value", "")
        elif tag in ("fieldset", "object"):
            f.value = f.default = None
        if "form" in a:  # its owner is the form with that id (none if there is none)
            self.pending.append((f, a["form"]))
        elif self._in_template():
            owner = next((n for n in node.ancestors() if n.tag == "form"), None)
            self.owned.append((f, self.by_node.get(id(owner)) if owner is not None else None))
        else:
            self.owned.append((f, self.pointer))

    def handle_data(self, data):
        for node in reversed(self.stack):
            if id(node) in self.texts:
                self.texts[id(node)].append(data)
                break

    def handle_endtag(self, tag):
        if tag == "form" and not self._in_template():
            form, self.pointer = self.pointer, None
            if form is not None and form.node in self.stack:
                self.stack.remove(form.node)  # only the form: what it left open stays open
            return
        if not any(n.tag == tag for n in self.stack):
            return  # an end tag with nothing to end
        while self.stack:
            node = self.stack.pop()
            self._ended(node)
            if node.tag == tag:
                break

    def _ended(self, node: Node) -> None:
        order = self._next()
        if "data-chosen" in node.attrs:
            form = self._owner_by_ancestry(node)
            if form is not None:
                form.chosen_box, form.chosen_end = node, order
        if node.tag == "template":
            self.tree = self.trees.pop()
        text = "".join(self.texts.pop(id(node), []))
        f = self._field_of(node)
        if node.tag == "textarea" and f is not None:
            text = text[1:] if text.startswith("\n") else text  # the parser drops a newline after <textarea>
            f.value = f.default = text.replace("\r\n", "\n").replace("\r", "\n")
        elif node.tag == "output" and f is not None:
            f.value = f.default = text
        elif node.tag == "option" and hasattr(node, "option"):
            owner, index, has_value = node.option
            if not has_value:  # its text, white space collapsed
                owner.options[index].value = re.sub(f"[{ASCII_SPACE}]+", " ", text).strip(ASCII_SPACE)

    def _owner_by_ancestry(self, node: Node) -> Form | None:
        for n in node.ancestors():
            if n.tag == "form":
                return self.by_node.get(id(n))
        return self.pointer

    def close(self):
        super().close()
        while self.stack:
            self._ended(self.stack.pop())
        for f, target in self.pending:
            found = self.ids.get((f.node.tree, target))
            self.owned.append((f, self.by_node.get(id(found)) if found is not None else None))
        for f, form in self.owned:
            if form is not None:
                form.fields.append(f)
        for form in self.forms:
            form.fields.sort(key=lambda f: f.order)
            for f in form.fields:
                if f.tag == "select":
                    _draw_selectedness(f)
            _draw_radio_groups(form)


def _draw_selectedness(select: Field) -> None:
    """The options' selectedness as drawn: each `selected`; one select-one keeps the last of them, else
    its first option that is not disabled (for a drop-down list)."""
    for o in select.options:
        o.selected = o.default_selected
    if select.multiple:
        return
    chosen = [o for o in select.options if o.selected]
    for o in chosen[:-1]:
        o.selected = False
    size = select.attrs.get("size", "1")
    if not chosen and (not size.isdigit() or int(size) <= 1):
        first = next((o for o in select.options if not o.disabled), None)
        if first is not None:
            first.selected = True


def _draw_radio_groups(form: Form) -> None:
    """Checking a radio unchecks the others of its group (the form's radios of that name): the last one
    drawn `checked` stays checked."""
    groups: dict[str, list[Field]] = {}
    for f in form.fields:
        if f.type == "radio" and f.name:
            groups.setdefault(f.name, []).append(f)
    for radios in groups.values():
        checked = [r for r in radios if r.checked]
        for r in checked[:-1]:
            r.checked = False


def _parsed(html: str) -> _Parser:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser


def forms(html: str) -> list[Form]:
    """Every <form> of the page (those inside a <template> with `in_template`), in document order."""
    return _parsed(html).forms


def tagged(html: str, attr: str) -> list[dict[str, str]]:
    """The attributes of every element of the page with the attribute `attr` (a page script's hook,
    such as the order page's [data-picker]), in document order."""
    return [n.attrs for n in _parsed(html).nodes if attr in n.attrs]


def one_form(html: str, *, api: str | None = None, ends: str | None = None, has: str | None = None, **attrs):
    """The one form of the page with this data-api (or a data-api ending so), a field named `has`, and
    these attributes (`data_export=True`: has it; a string: equals it). AssertionError unless one."""
    wanted = {k.replace("_", "-"): v for k, v in attrs.items()}

    def fits(f: Form) -> bool:
        if api is not None and f.api != api:
            return False
        if ends is not None and not (f.api or "").endswith(ends):
            return False
        if has is not None and has not in f.names():
            return False
        return all((k in f.attrs) if v is True else (f.attrs.get(k) == v) for k, v in wanted.items())

    found = [f for f in forms(html) if fits(f)]
    assert len(found) == 1, (api, ends, has, attrs, [f.api for f in forms(html)])
    return found[0]


def page_csrf(html: str) -> str:
    """console.js `csrf`: the page's <meta name="csrf-token"> ("" without one)."""
    found = re.search(r'<meta name="csrf-token" content="([^"]*)"', html)
    return found.group(1) if found else ""


# ---- el.value: the browser's value sanitisation ---------------------------------------------------------

_DATE = r"(\d{4,})-(\d{2})-(\d{2})"
_TIME = r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?"
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _valid_date(year: str, month: str, day: str) -> bool:
    try:
        return int(year) > 0 and bool(date(min(int(year), 9999), int(month), int(day)))
    except ValueError:
        return False


def _valid_time(hour: str, minute: str, second: str | None) -> bool:
    return int(hour) < 24 and int(minute) < 60 and (second is None or int(second) < 60)


def _sanitize(kind: str, value: str, attrs: dict[str, str]) -> str:
    """What `el.value` holds after `value` is set on an <input type=kind> (HTML's value sanitisation)."""
    if kind in ("text", "search", "tel", "password"):
        return value.replace("\r", "").replace("\n", "")
    if kind in ("email", "url"):
        value = value.replace("\r", "").replace("\n", "")
        if kind == "email" and "multiple" in attrs:
            return ",".join(part.strip(ASCII_SPACE) for part in value.split(","))
        return value.strip(ASCII_SPACE)
    if kind == "number":
        return value if _FLOAT.fullmatch(value) and math.isfinite(float(value)) else ""
    if kind == "date":
        m = re.fullmatch(_DATE, value)
        return value if m and _valid_date(*m.groups()) else ""
    if kind == "month":
        m = re.fullmatch(r"(\d{4,})-(\d{2})", value)
        return value if m and int(m.group(1)) > 0 and 1 <= int(m.group(2)) <= 12 else ""
    if kind == "time":
        m = re.fullmatch(_TIME, value)
        return value if m and _valid_time(*m.groups()[:3]) else ""
    if kind == "datetime-local":
        m = re.fullmatch(f"{_DATE}[T ]{_TIME}", value)
        if not m or not _valid_date(*m.groups()[:3]) or not _valid_time(*m.groups()[3:6]):
            return ""
        y, mo, d, h, mi, s, frac = m.groups()
        out = f"{y}-{mo}-{d}T{h}:{mi}"  # normalised: the seconds only when not zero
        millis = (frac or "").ljust(3, "0").rstrip("0")
        if (s and int(s)) or millis:
            out += f":{s}" + (f".{millis}" if millis else "")
        return out
    return value  # hidden, checkbox, radio, week, range, color…: as given (not sanitised here)


# ---- JavaScript's numbers and strings -----------------------------------------------------------------


def _js_trim(s: str) -> str:
    return s.strip(JS_SPACE)


def _number(x: float):
    """A JavaScript number as JSON.stringify writes it: an int when whole, None (null) when not finite."""
    if not math.isfinite(x):
        return None
    if x == int(x) and abs(x) < 1e21:
        return int(x)
    return x


def _parse_int(s: str):
    """parseInt(s, 10): the leading digits after white space and a sign; NaN (JSON null) without any."""
    m = re.match(r"([+-]?)([0-9]+)", _js_trim(s))
    if not m:
        return None
    return _number(float(int(m.group(2)) * (-1 if m.group(1) == "-" else 1)))


def _to_number(s: str) -> float:
    """Number(s) for a string (NaN when it is not a number)."""
    t = _js_trim(s)
    if t == "":
        return 0.0
    if re.fullmatch(r"[+-]?Infinity", t):
        return -math.inf if t.startswith("-") else math.inf
    for prefix, base, digits in (("0x", 16, "0-9a-fA-F"), ("0o", 8, "0-7"), ("0b", 2, "01")):
        if re.fullmatch(f"0[{prefix[1]}{prefix[1].upper()}][{digits}]+", t):
            return float(int(t[2:], base))
    if re.fullmatch(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", t):
        return float(t)
    return math.nan


def _js_string(v) -> str:
    """String(v) for a value collect() makes (objects are given to JSON.stringify before this)."""
    if v is True or v is False:
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        sign, digits, exponent = Decimal(repr(v)).normalize().as_tuple()
        ds = "".join(map(str, digits))
        k, n = len(ds), len(ds) + exponent  # v = 0.ds × 10^n
        if k <= n <= 21:
            out = ds + "0" * (n - k)
        elif 0 < n <= 21:
            out = ds[:n] + "." + ds[n:]
        elif -6 < n <= 0:
            out = "0." + "0" * -n + ds
        else:
            out = ds[0] + ("." + ds[1:] if k > 1 else "") + "e" + ("+" if n > 0 else "-") + str(abs(n - 1))
        return ("-" if sign else "") + out
    return str(v)


def _js_json(v) -> str:
    """JSON.stringify(v)."""
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _encode_uri_component(s: str) -> str:
    return quote(s, safe="-_.!~*'()")


# ---- console.js: read, put, collect ---------------------------------------------------------------------

_UNDEFINED = object()
_HOLE = object()  # an array's missing item (JSON.stringify writes null)


class _JsArray(list):
    """A JavaScript array: items by index (holes where none was set) and, like any object, other
    properties, which JSON.stringify leaves out."""

    def __init__(self, items=()):
        super().__init__(items)
        self.props: dict[str, object] = {}


def _index(key: str) -> int | None:
    """The array index a property key names (a canonical number below 2**32 - 1), else None."""
    if re.fullmatch(r"0|[1-9][0-9]*", key) and int(key) < 2**32 - 1:
        return int(key)
    return None


def _get(target, key: str):
    if isinstance(target, _JsArray):
        i = _index(key)
        if i is None:
            return target.props.get(key, _UNDEFINED)
        return target[i] if i < len(target) and target[i] is not _HOLE else _UNDEFINED
    return target.get(key, _UNDEFINED)


def _set(target, key: str, value) -> None:
    if isinstance(target, _JsArray):
        i = _index(key)
        if i is None:
            target.props[key] = value
            return
        while len(target) <= i:
            target.append(_HOLE)
        target[i] = value
    else:
        target[key] = value


def read(el: Field):
    """console.js `read(el)`: a field's value as the body holds it (_UNDEFINED: left out)."""
    kind = el.data("type") or ""
    if el.type == "checkbox" and kind != "ints":
        return el.checked
    v = el.js_value()
    if isinstance(v, str) and _js_trim(v) == "" and kind != "string":
        return _UNDEFINED
    if v is None:  # a fieldset or object: undefined (the string methods of int, number, ints throw)
        if kind in ("int", "number", "ints"):
            raise TypeError(f"console.js would throw reading {el.tag} {el.name!r} as {kind}: it has no value")
        return _UNDEFINED
    if kind == "int":
        return _parse_int(v) if re.fullmatch(r"-?[0-9]+", _js_trim(v)) else v
    if kind == "number":
        return _number(_to_number(v)) if _js_trim(v) != "" and not math.isnan(_to_number(v)) else v
    if kind == "ints":
        items = [x for x in re.split(f"[{JS_SPACE},，、]+", v) if x]
        return [_parse_int(x) if re.fullmatch(r"[0-9]+", x) else x for x in items]
    if kind == "json":
        try:
            return _json_parse(v)
        except ValueError:
            return v
    if kind == "bool":
        return True if v == "true" else False if v == "false" else v
    if kind == "moment":
        return _moment(v, el.data("offset"), el.data("zone"))
    return v


def _json_parse(text: str):
    """JSON.parse: strict JSON (no NaN), every number a double."""

    def constant(name):
        raise ValueError(name)

    return json.loads(
        text,
        parse_constant=constant,
        parse_int=lambda s: _number(float(s)),
        parse_float=lambda s: _number(float(s)),
    )


@functools.cache
def _zone(name: str) -> ZoneInfo | None:
    """The IANA zone `Intl.DateTimeFormat` would take for `name` (its case does not matter), or None."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        found = {z.lower(): z for z in available_timezones()}.get(name.lower())
        return ZoneInfo(found) if found else None


def _date_utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """Date.UTC(year, month, day, …) in ms, out-of-range parts carried over as JavaScript does."""
    year, month = year + month // 12, month % 12
    # days from 1970-01-01 to the first of that month (proleptic Gregorian, any year)
    y = year - (month < 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((month + 10) % 12) + 2) // 5  # month is 0-based: March is day 0 of the year
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468 + day - 1
    return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000


def _zone_offset(value: str, zone: str | None) -> str | None:
    """console.js `zoneOffset(value, zone)`: the UTC offset of `zone` at the wall-clock time `value`
    ("2026-12-05T09:00:00") as "+08:00"; None when it cannot tell (no zone, an unknown one)."""
    if not zone:
        return None
    tz = _zone(zone)
    m = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})", value)
    if tz is None or m is None:
        return None
    y, mo, d, h, mi, sec = (int(x) for x in m.groups())
    wall = _date_utc(y, mo - 1, d, h, mi, sec)

    def offset_at(instant: int) -> int:  # the zone's offset at an instant (ms), to the second
        seconds = instant // 1000
        local = datetime.fromtimestamp(seconds, UTC).astimezone(tz)
        return int(local.utcoffset().total_seconds()) * 1000 - (instant - seconds * 1000)

    try:
        offset = offset_at(wall - offset_at(wall))
    except (OverflowError, OSError, ValueError):
        return None
    minutes = math.floor(offset / 60000 + 0.5)  # Math.round
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _moment(value: str, offset: str | None, zone: str | None) -> str:
    """console.js `moment`: "2026-12-05T09:00" on the site's clock → "2026-12-05T09:00:00+08:00", at
    the offset of data-zone at that time, else data-offset's, else +08:00."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?", value):
        return value
    if len(value) == 16:
        value += ":00"
    return value + (_zone_offset(value, zone) or offset or "+08:00")


def put(target, name: str, value) -> None:
    """console.js `put`: "a.b" nests an object; a number names a list's item ("assignments.0.minutes")."""
    parts = name.split(".")
    for i in range(len(parts) - 1):
        if not isinstance(target, dict | _JsArray):
            raise TypeError(f"console.js would throw putting {name!r}: {parts[i - 1]!r} is not an object")
        if _get(target, parts[i]) is _UNDEFINED:
            _set(target, parts[i], _JsArray() if re.fullmatch(r"[0-9]+", parts[i + 1]) else {})
        target = _get(target, parts[i])
    if not isinstance(target, dict | _JsArray):
        raise TypeError(f"console.js would throw putting {name!r}: {parts[-2]!r} is not an object")
    last = parts[-1]
    before = _get(target, last)
    if isinstance(before, _JsArray) and isinstance(value, _JsArray):
        _set(target, last, _JsArray([*before, *value]))
    else:
        _set(target, last, value)


class Collected(dict):
    """The body collect() made for a form, as JSON.stringify writes it; send() takes it only unchanged."""

    source: Form
    snapshot: str


def _plain(value):
    if isinstance(value, _JsArray):
        return [None if v is _HOLE else _plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def collect(form: Form, typed: dict | list[tuple[str, object]] | None = None) -> Collected:
    """console.js `collect(form)`, after the manager typed `typed` into it (see type_into)."""
    if typed:
        form = type_into(form, typed)
    body: dict = {}
    for el in form.fields:
        if not el.name or el.disabled or el.data("skip") is not None:
            continue
        if el.type == "radio" and not el.checked:
            continue
        if el.type == "checkbox" and el.data("type") == "ints":
            put(body, el.name, _JsArray([_parse_int(el.js_value() or "")]) if el.checked else _JsArray())
            continue
        if el.tag == "select" and el.multiple:
            ints = el.data("type") == "ints"
            chosen = [_parse_int(o.value) if ints else o.value for o in el.options if o.selected]
            put(body, el.name, _JsArray(chosen))
            continue
        value = read(el)
        if isinstance(value, list) and not isinstance(value, _JsArray):
            value = _JsArray(value)
        if value is not _UNDEFINED:
            put(body, el.name, value)
    out = Collected(_plain(body))
    out.source, out.snapshot = form, _js_json(out)
    return out


# ---- what the manager does: type, pick, tick --------------------------------------------------------


def type_into(form: Form, typed: dict | list[tuple[str, object]]) -> Form:
    """The form after the manager typed into it: {name: value} (or (name, value) pairs, for a name with
    both a text field and checkboxes), in order.

    - a str (or number) goes into the one text field, textarea or drop-down list of that name (for a
      list: the option with that value), or picks the radio of that name with that value;
    - a bool ticks or clears the one checkbox of that name;
    - a list/tuple/set ticks exactly those checkboxes of that name (by value), or selects exactly those
      options of a multiple select.
    A name the form has no field for raises LookupError; a hidden, disabled or read-only field, a
    value no option or checkbox has, or a field of the wrong kind raise ValueError.
    """
    form = form.copy()
    for name, value in typed.items() if isinstance(typed, dict) else typed:
        every = form.named(name)
        if not every:
            raise LookupError(
                f"the form for {form.api!r} has no field named {name!r} (it has {sorted(form.names())}): "
                "nobody can type into it; a field a page's script adds has its helper here"
            )
        fields = [f for f in every if f.tag in ("input", "select", "textarea") and f.type not in NOT_TYPED]
        if not fields:
            raise ValueError(
                f"{name!r} is {every[0].type}: nobody types into it (the page or its script sets it)"
            )
        if isinstance(value, bool):
            _tick(name, [f for f in fields if f.type == "checkbox"], value)
        elif isinstance(value, list | tuple | set | frozenset):
            _choose(name, fields, {str(v) for v in value})
        elif isinstance(value, str | int | float):
            _type(name, fields, str(value))
        else:
            raise TypeError(f"{name!r}: type a str, a number, a bool or a list, not {value!r}")
    return form


def _usable(f: Field) -> Field:
    if f.disabled:
        raise ValueError(f"{f.name!r} is disabled: nobody can type into it (a page's script may enable it)")
    if "readonly" in f.attrs and f.tag in ("input", "textarea") and f.type not in ("checkbox", "radio"):
        raise ValueError(f"{f.name!r} is read-only")
    if "data-kind" in f.attrs:
        raise ValueError(f"{f.name!r} drives activities.js: use show_rule_kind(form, kind)")
    return f


def _tick(name: str, boxes: list[Field], on: bool) -> None:
    if len(boxes) != 1:
        raise ValueError(f"{name!r}: a bool ticks one checkbox; the form has {len(boxes)} of that name")
    _usable(boxes[0]).checked = on


def _choose(name: str, fields: list[Field], values: set[str]) -> None:
    boxes = [f for f in fields if f.type == "checkbox"]
    lists = [f for f in fields if f.multiple]
    if boxes:
        missing = values - {b.js_value() for b in boxes}
        if missing:
            raise ValueError(f"{name!r}: no checkbox with the value(s) {sorted(missing)}")
        for b in boxes:
            if b.checked != (b.js_value() in values):
                _usable(b).checked = b.js_value() in values
    elif len(lists) == 1:
        select = _usable(lists[0])
        missing = values - {o.value for o in select.options if not o.disabled}
        if missing:
            raise ValueError(f"{name!r}: no option (that can be chosen) with the value(s) {sorted(missing)}")
        for o in select.options:
            o.selected = o.value in values
    else:
        raise ValueError(f"{name!r}: a list ticks checkboxes or chooses in a multiple select; it has neither")


def _type(name: str, fields: list[Field], value: str) -> None:
    radios = [f for f in fields if f.type == "radio"]
    if radios:
        chosen = [r for r in radios if r.js_value() == value]
        if not chosen:
            raise ValueError(f"{name!r}: no radio with the value {value!r}")
        _usable(chosen[0])
        for r in radios:
            r.checked = r is chosen[0]
        return
    boxes = [f for f in fields if f.type not in ("checkbox", "radio")]
    if len(boxes) != 1:
        raise ValueError(f"{name!r}: a str goes into one field; the form has {len(boxes)} to type into")
    f = _usable(boxes[0])
    if f.tag == "select":
        if f.multiple:
            raise ValueError(f"{name!r} is a multiple select: give a list")
        options = [o for o in f.options if o.value == value and not o.disabled]
        if not options:
            raise ValueError(
                f"{name!r}: no option with the value {value!r} (it has {[o.value for o in f.options]})"
            )
        for o in f.options:
            o.selected = o is options[0]
    elif f.tag == "textarea":
        f.value = value.replace("\r\n", "\n").replace("\r", "\n")
    else:
        f.value = _sanitize(f.type, value, f.attrs)


# ---- console.js: send, done ---------------------------------------------------------------------------


def send(client, form: Form, csrf: str | None, body: Collected | None = None, *, lang: str | None = None):
    """console.js `send(form)` through the Flask test client (its cookie jar is the browser's): the
    method of data-method (POST by default) to data-api, for GET the body as query parameters, for a
    DELETE with an empty body no body, else JSON; Accept, X-CSRF-Token (`csrf`: what the page's meta
    holds, "" without one) and the form's Idempotency-Key, which is renewed only after an OK answer.
    `body`: what collect() made for this form, unchanged (default: collect(form)). `lang`: the
    browser's Accept-Language. data-confirm is taken as confirmed."""
    if body is None:
        body = collect(form)
    if not isinstance(body, Collected) or body.source.shared is not form.shared:
        raise TypeError("send() takes what collect() made for this same form (no body of a test's own)")
    if _js_json(body) != body.snapshot:
        raise ValueError("the body was changed after collect(): console.js sends what it collects")
    if body.source.api != form.api or body.source.method != form.method:
        raise ValueError("the body was collected from the form with another data-api or data-method")
    if not form.api:
        raise ValueError("a form without data-api is not console.js's: the browser would submit it itself")
    method, url = form.method, form.api
    headers = {"Accept": "application/json", "X-CSRF-Token": csrf or "", "Idempotency-Key": form.key}
    if lang:
        headers["Accept-Language"] = lang
    data = None
    if method == "GET":
        params = [
            (k, _js_json(v) if isinstance(v, dict | list) or v is None else _js_string(v))
            for k, v in body.items()
        ]
        url += ("?" if "?" not in url else "&") + urlencode(params)
    elif method != "DELETE" or body:
        headers["Content-Type"] = "application/json"
        data = _js_json(body)
    response = client.open(url, method=method, headers=headers, data=data)
    if 200 <= response.status_code < 300:
        form.shared.key = str(uuid.uuid4())  # the next, different change gets its own key
    return response


def send_code(client, form: Form, button: dict[str, str]):
    """console.js's click on <button data-send-code="/api/v1/auth/sms-code"> in `form`: POST
    {"phone": the form's phone field} as JSON (no CSRF value: no one is signed in yet)."""
    phone = form.field("phone").js_value()
    return client.open(
        button["data-send-code"],
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        data=_js_json({"phone": phone}),
    )


def next_location(form: Form, data: dict | None) -> str | None:
    """console.js `done` after an OK answer `data`: the URL the browser goes to ("reload": the same
    page again; None: it stays, dispatching console:done)."""
    then = form.then
    if then == "reload":
        return "reload"
    if then == "event":
        return None
    if then == "redirect":
        return (data or {}).get("next") or "/console/"
    if then.startswith("redirect:"):

        def fill(m):
            value = (data or {}).get(m.group(1), _UNDEFINED) if isinstance(data, dict) else _UNDEFINED
            return "" if value is _UNDEFINED else _encode_uri_component(_js_string(value))

        return re.sub(r"\{(\w+)\}", fill, then[len("redirect:") :])
    return None


# ---- what the pages' own scripts do to a form ----------------------------------------------------------


def choose_volunteers(form: Form, *user_ids: int) -> Form:
    """orders.js `choose` for each of `user_ids` (the picker's "Choose" on a volunteer it found): a checked
    <input type=checkbox name="volunteer_ids" data-type="ints" value=ID> added at the end of the form's
    [data-chosen] box, unless one with that id is there already."""
    if form.chosen_box is None or form.chosen_end is None:
        raise LookupError(f"the form for {form.api!r} has no [data-chosen] box: no picker adds to it")
    form = form.copy()
    box, (end, _) = form.chosen_box, form.chosen_end
    for user_id in user_ids:
        chosen = [  # chosenIds(form): [data-chosen] input[name="volunteer_ids"]
            f
            for f in form.fields
            if f.tag == "input" and f.name == "volunteer_ids" and box in f.node.ancestors()
        ]
        if str(user_id) in [f.js_value() for f in chosen]:
            continue
        attrs = {"type": "checkbox", "name": "volunteer_ids", "value": str(user_id), "data-type": "ints"}
        node = Node("input", attrs, Node("label", {"class": "chip"}, box, box.tree), box.tree)
        added = Field(tag="input", attrs=attrs, node=node, order=(end, len(form.fields) + 1))
        added.value = added.default = str(user_id)
        added.checked = True
        form.fields.append(added)
        form.fields.sort(key=lambda f: f.order)
    return form


def picker_url(
    picker: dict[str, str], *, q: str = "", skill: str = "", team: str = "", cursor: str | None = None
) -> str:
    """orders.js `search(picker, cursor)`: the URL the picker fetches for what the manager typed (`q`,
    `skill`, stripped; `team`, a team id or ""), 20 a page, with `for_order` when the picker has
    [data-for-order]. `picker` is its attributes (`tagged(page, "data-picker")`)."""
    params = []
    if q.strip():
        params.append(("q", q.strip()))
    if skill.strip():
        params.append(("skill", skill.strip()))
    if team:
        params.append(("team_id", team))
    if picker.get("data-for-order"):
        params.append(("for_order", picker["data-for-order"]))
    params.append(("limit", "20"))
    if cursor:
        params.append(("cursor", cursor))
    return picker["data-api"] + "?" + urlencode(params)


def _box_kinds(form: Form, f: Field) -> list[str] | None:
    """The kinds of the innermost [data-kinds] box inside the form around the field (None: none)."""
    for n in f.node.ancestors():
        if n is form.node:
            return None
        if "data-kinds" in n.attrs:
            return n.attrs["data-kinds"].split(" ")
    return None


def show_rule_kind(form: Form, kind: str) -> Form:
    """The manager picks `kind` in the rule form's select[data-kind]; activities.js `showKind` then
    enables the fields of the [data-kinds] boxes naming it and disables the others'."""
    form = form.copy()
    select = next((f for f in form.fields if "data-kind" in f.attrs), None)
    if select is None:
        raise LookupError(f"the form for {form.api!r} has no select[data-kind]")
    if select.disabled or kind not in [o.value for o in select.options if not o.disabled]:
        raise ValueError(f"no kind {kind!r} to pick (it has {[o.value for o in select.options]})")
    for o in select.options:
        o.selected = o.value == kind
    for f in form.fields:
        if f.tag in ("input", "select", "textarea"):
            kinds = _box_kinds(form, f)
            if kinds is not None:
                if kind in kinds:
                    f.attrs.pop("disabled", None)
                else:
                    f.attrs["disabled"] = ""
    return form


def rule_preview_url(form: Form) -> str:
    """activities.js `previewUrl(form)`: the rule's spec (collected by console.js) as query parameters,
    a list's items one by one, with count=5, on the form's data-preview."""
    spec = collect(form).get("spec") or {}
    params = []
    for key, value in spec.items():
        for item in value if isinstance(value, list) else [value]:
            params.append((key, _js_json(item) if isinstance(item, dict | list) else _js_string(item)))
    params.append(("count", "5"))
    return form.attrs["data-preview"] + "?" + urlencode(params)


def mark_unchanged(form: Form) -> Form:
    """settings.js `mark(form)` (on submit, before console.js collects): each named field still holding
    the value the page was drawn with gets data-skip, the others lose it; the fields of one data-group
    are all kept if any of them changed."""
    form = form.copy()

    def changed(el: Field) -> bool:
        if el.tag == "select":
            return any(o.selected != o.default_selected for o in el.options)
        return el.js_value() != el.default

    fields = [el for el in form.fields if el.name]
    groups = {el.data("group") for el in fields if el.data("group") and changed(el)}
    for el in fields:
        keep = el.data("group") in groups if el.data("group") else changed(el)
        if keep:
            el.attrs.pop("data-skip", None)
        else:
            el.attrs["data-skip"] = ""
    return form


def lookup_url(lookup: Form, typed_code: str) -> str:
    """timebank.js `lookup(code)`'s URL: the code without white space, in capitals, after data-lookup."""
    code = re.sub(f"[{JS_SPACE}]+", "", typed_code).upper()
    return lookup.attrs["data-lookup"] + _encode_uri_component(code)


def show_redemption(template_form: Form, data: dict) -> Form | None:
    """timebank.js `show(data)` for the lookup's answer: a fresh card from the <template>, whose fulfil
    form points at POST /api/v1/redemptions/{code}/fulfil with a key of its own, if the code is issued;
    else the card has no form (None)."""
    if data.get("status") != "issued":
        return None
    form = template_form.copy()
    form.shared = _Shared()  # a new element, cloned from the template
    form.in_template = False
    form.attrs["data-api"] = "/api/v1/redemptions/" + _encode_uri_component(str(data["code"])) + "/fulfil"
    return form
