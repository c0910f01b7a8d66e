/* The console's behaviour, from data attributes only (the CSP forbids inline script).
 *
 * <form data-api="/api/v1/..." [data-method="POST"] [data-then="reload|redirect|redirect:/url/{id}|event"]
 *       [data-confirm="Sure?"]>: sent as JSON with the cookie, the page's CSRF value and an
 *   Idempotency-Key made when the page was drawn (a double click, or a retry after a lost answer,
 *   replays instead of submitting twice; the submit buttons are disabled while it runs). The API's
 *   errors are shown next to the fields they name (errors.json.<field>, nested as "a.b") and the
 *   message at the top of the form, in the browser's language (the API follows Accept-Language).
 *   Field types: data-type="int|number|ints|json|bool|moment" (moment: a datetime-local value read on
 *   the site's clock: with data-zone="Asia/Shanghai" at the zone's UTC offset at the moment typed, so a
 *   date across a daylight-saving change gets its own; data-offset="+08:00", the server's offset at
 *   the moment the form is about, when the browser cannot tell); empty fields are left out; "a.b" names nest, and a
 *   number makes a list ("assignments.0.minutes": the audit's rows).
 *   data-then="event" dispatches "console:done" on the form with the answer as detail.
 * <select data-autosubmit>: submits its GET form when changed.
 * [data-tabs] buttons with data-tab show the [data-pane] of the same name.
 * <button data-send-code="/api/v1/auth/sms-code">: sends a login code to the form's phone.
 */
(function () {
  "use strict";

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function isEn() {
    return (document.documentElement.lang || "").indexOf("en") === 0;
  }

  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // The UTC offset of the IANA `zone` at the wall-clock time `value` ("2026-12-05T09:00:00"), as
  // "+08:00"; null when the browser cannot tell (no such zone, no Intl time zones).
  function zoneOffset(value, zone) {
    if (!zone || !window.Intl) return null;
    try {
      var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(value);
      var wall = Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
      var format = new Intl.DateTimeFormat("en-US", {
        timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit"
      });
      var offsetAt = function (instant) {  // the zone's offset at an instant, in ms
        var p = {};
        format.formatToParts(new Date(instant)).forEach(function (x) { p[x.type] = x.value; });
        return Date.UTC(+p.year, p.month - 1, +p.day, +p.hour % 24, +p.minute, +p.second) - instant;
      };
      // The instant whose wall time is `value`: guess with the offset at the wall time read as UTC,
      // then take the offset at that instant (a time a change skips or repeats settles on one side).
      var offset = offsetAt(wall - offsetAt(wall));
      var minutes = Math.round(offset / 60000);
      var sign = minutes < 0 ? "-" : "+";
      minutes = Math.abs(minutes);
      return sign + two(Math.floor(minutes / 60)) + ":" + two(minutes % 60);
    } catch (e) {
      return null;
    }
  }

  function moment(value, offset, zone) {
    // "2026-12-05T09:00" on the site's clock → "2026-12-05T09:00:00+08:00"
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) return value;
    if (value.length === 16) value += ":00";
    return value + (zoneOffset(value, zone) || offset || "+08:00");
  }

  function read(el) {
    var type = el.dataset.type || "";
    if (el.type === "checkbox" && type !== "ints") return el.checked;
    var v = el.value;
    if (typeof v === "string" && v.trim() === "" && type !== "string") return undefined;
    switch (type) {
      case "int":
        return /^-?\d+$/.test(v.trim()) ? parseInt(v, 10) : v;
      case "number":
        return v.trim() !== "" && !isNaN(Number(v)) ? Number(v) : v;
      case "ints":
        return v.split(/[\s,，、]+/).filter(Boolean).map(function (x) {
          return /^\d+$/.test(x) ? parseInt(x, 10) : x;
        });
      case "json":
        try { return JSON.parse(v); } catch (e) { return v; }
      case "bool":
        return v === "true" ? true : v === "false" ? false : v;
      case "moment":
        return moment(v, el.dataset.offset, el.dataset.zone);
      default:
        return v;
    }
  }

  function put(target, name, value) {
    // "a.b" nests an object; a number names a list's item ("assignments.0.minutes")
    var parts = name.split(".");
    for (var i = 0; i < parts.length - 1; i++) {
      if (target[parts[i]] === undefined) target[parts[i]] = /^\d+$/.test(parts[i + 1]) ? [] : {};
      target = target[parts[i]];
    }
    var last = parts[parts.length - 1];
    if (Array.isArray(target[last]) && Array.isArray(value)) target[last] = target[last].concat(value);
    else target[last] = value;
  }

  function collect(form) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.dataset.skip !== undefined) return;
      if (el.type === "radio" && !el.checked) return;
      if (el.type === "checkbox" && el.dataset.type === "ints") {
        // an unticked box still makes the list (put adds nothing to a list already begun)
        put(body, el.name, el.checked ? [parseInt(el.value, 10)] : []);
        return;
      }
      if (el.tagName === "SELECT" && el.multiple) {
        var chosen = Array.prototype.filter.call(el.options, function (o) { return o.selected; })
          .map(function (o) { return el.dataset.type === "ints" ? parseInt(o.value, 10) : o.value; });
        put(body, el.name, chosen);
        return;
      }
      var value = read(el);
      if (value !== undefined) put(body, el.name, value);
    });
    return body;
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error, .form-error.js").forEach(function (n) { n.remove(); });
    form.querySelectorAll(".invalid").forEach(function (n) { n.classList.remove("invalid"); });
  }

  function flatten(errors, prefix, out) {
    Object.keys(errors || {}).forEach(function (key) {
      var v = errors[key];
      var name = prefix ? prefix + "." + key : key;
      if (Array.isArray(v) && v.every(function (x) { return typeof x === "string"; })) out[name] = v.join(" ");
      else if (v && typeof v === "object") flatten(v, name, out);
      else out[name] = String(v);
    });
    return out;
  }

  function fieldFor(form, name) {
    function named(n) {  // an enabled field first (a form may hide others of the same name)
      return form.querySelector('[name="' + n + '"]:not([disabled])') || form.querySelector('[name="' + n + '"]') ||
        form.querySelector('[data-errors-for="' + n + '"]');
    }
    var found = named(name);
    while (!found && name.indexOf(".") > 0) {  // "assignments.0.minutes" → "assignments.0" …
      name = name.slice(0, name.lastIndexOf("."));
      found = named(name);
    }
    return found;
  }

  // The API's error on the form: its message at the top (or in options.place), each field's message
  // next to the field it names (options.fields: {name: message}, default: the body's or query's).
  function showErrors(form, status, data, options) {
    options = options || {};
    var box = document.createElement("p");
    box.className = "form-error js";
    box.setAttribute("role", "alert");
    var message = data && data.message;
    if (!message && status) message = isEn() ? "Something went wrong (" + status + ")" : "操作失败（" + status + "）";
    if (!message) message = isEn() ? "Could not reach the server. Check the network and try again."
                                   : "无法连接服务器，请检查网络后重试。";
    box.textContent = message;
    if (options.place) options.place.appendChild(box);
    else form.insertBefore(box, form.firstChild);
    var fields = options.fields ||
      flatten((data && data.errors && (data.errors.json || data.errors.query)) || {}, "", {});
    var unplaced = [];
    Object.keys(fields).forEach(function (name) {
      var el = fieldFor(form, name);
      if (!el) { unplaced.push(name + ": " + fields[name]); return; }
      el.classList.add("invalid");
      var note = document.createElement("span");
      note.className = "field-error";
      note.textContent = fields[name];
      (el.closest("label") || el).insertAdjacentElement("afterend", note);
    });
    if (unplaced.length) box.textContent += " — " + unplaced.join("; ");
    if (status === 401) {
      var link = document.createElement("a");
      link.href = "/console/login?next=" + encodeURIComponent(location.pathname + location.search);
      link.textContent = isEn() ? " Sign in again" : " 重新登录";
      box.appendChild(link);
    }
  }

  function fill(template, data) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return data && data[key] !== undefined ? encodeURIComponent(data[key]) : "";
    });
  }

  function done(form, data) {
    var then = form.dataset.then || "reload";
    if (then === "reload") { location.reload(); return; }
    if (then === "event") {
      form.dispatchEvent(new CustomEvent("console:done", { detail: data, bubbles: true }));
      return;
    }
    if (then === "redirect") { location.assign((data && data.next) || "/console/"); return; }
    if (then.indexOf("redirect:") === 0) { location.assign(fill(then.slice(9), data)); }
  }

  function send(form) {
    if (form.dataset.busy) return Promise.resolve();
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return Promise.resolve();
    var method = (form.dataset.method || "POST").toUpperCase();
    var url = form.dataset.api;
    var body = collect(form);
    var headers = {
      "Accept": "application/json",
      "X-CSRF-Token": csrf(),
      "Idempotency-Key": form.dataset.key || (form.dataset.key = newKey())
    };
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (method === "GET") {
      var params = new URLSearchParams();
      Object.keys(body).forEach(function (k) {
        var v = body[k];
        params.append(k, typeof v === "object" ? JSON.stringify(v) : v);
      });
      url += (url.indexOf("?") < 0 ? "?" : "&") + params.toString();
    } else if (method !== "DELETE" || Object.keys(body).length) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    form.dataset.busy = "1";
    form.classList.add("busy");
    var buttons = form.querySelectorAll("button, input[type=submit]");
    buttons.forEach(function (b) { b.disabled = true; });
    clearErrors(form);
    return fetch(url, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (res.ok) {
          form.dataset.key = newKey();  // the next, different change gets its own key
          done(form, data);
        } else {
          showErrors(form, res.status, data);
        }
      });
    }, function () {
      showErrors(form, 0, null);
    }).then(function () {
      delete form.dataset.busy;
      form.classList.remove("busy");
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  window.ConsoleApi = {
    send: send, collect: collect, newKey: newKey, csrf: csrf, zoneOffset: zoneOffset,
    showErrors: showErrors, clearErrors: clearErrors, flatten: flatten
  };

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.dataset || !form.dataset.api) return;
    ev.preventDefault();
    send(form);
  });

  document.addEventListener("change", function (ev) {
    if (ev.target.matches && ev.target.matches("select[data-autosubmit]")) ev.target.form.submit();
  });

  document.addEventListener("click", function (ev) {
    var tab = ev.target.closest && ev.target.closest("[data-tabs] [data-tab]");
    if (tab) {
      var box = tab.closest("[data-tabs]");
      box.querySelectorAll("[data-tab]").forEach(function (t) { t.classList.toggle("on", t === tab); });
      document.querySelectorAll("[data-pane]").forEach(function (p) { p.hidden = p.dataset.pane !== tab.dataset.tab; });
      return;
    }
    var sender = ev.target.closest && ev.target.closest("[data-send-code]");
    if (sender) {
      var form = sender.closest("form");
      var phone = form.querySelector('[name="phone"]').value;
      clearErrors(form);
      sender.disabled = true;
      fetch(sender.dataset.sendCode, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ phone: phone })
      }).then(function (res) {
        return res.json().catch(function () { return null; }).then(function (data) {
          if (res.ok) sender.textContent = sender.dataset.sent;
          else showErrors(form, res.status, data);
        });
      }).finally(function () { setTimeout(function () { sender.disabled = false; }, 3000); });
    }
  });

  // Every form gets its Idempotency-Key when the page is drawn.
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-api]").forEach(function (f) { f.dataset.key = newKey(); });
  });
})();
