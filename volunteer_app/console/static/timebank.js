/* The time bank's fulfil page (核销): look a redemption code up and fulfil it.
 *
 * <form id="code-lookup" data-lookup="/api/v1/redemptions/" data-zone="Asia/Shanghai">: on submit (a
 *   barcode scanner types the code and Enter) the code is looked up with GET {data-lookup}{code} and
 *   shown in #code-result from <template id="redemption-card">, whose [data-field] slots are filled
 *   and whose fulfil form is pointed at POST /api/v1/redemptions/{code}/fulfil (sent by console.js with
 *   the cookie, the CSRF value and an Idempotency-Key). A code that is unknown, out of reach, already
 *   fulfilled or expired shows the API's message (in the browser's language). The words come from
 *   <template id="redemption-words"> (the console's catalogue), so nothing here is in one language;
 *   a state's badge colour comes from there too (data-badge, console/labels.py), decided once.
 *   After each lookup the input's text is selected: the next scan replaces it. Focus never leaves the
 *   input for the Fulfil button, so a scan can never press it. A code is the holder's proof: it is
 *   never written into the page's address (history, logs), only sent to the API as the path it names.
 */
(function () {
  "use strict";

  var form, input, result, words = {}, badges = {}, zone;

  function word(key, fallback) {
    return words[key] || fallback || key;
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function local(iso) {
    // An API time on the site's clock, as the pages show it: "2026-12-05 09:00".
    if (!iso) return "—";
    var when = new Date(iso);
    if (isNaN(when.getTime())) return iso;
    try {
      var parts = {};
      new Intl.DateTimeFormat("en-GB", {
        timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23"
      }).formatToParts(when).forEach(function (p) { parts[p.type] = p.value; });
      return parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute;
    } catch (e) {
      return when.getFullYear() + "-" + pad(when.getMonth() + 1) + "-" + pad(when.getDate()) + " " +
        pad(when.getHours()) + ":" + pad(when.getMinutes());
    }
  }

  function normal(code) {
    return (code || "").replace(/\s+/g, "").toUpperCase();
  }

  function message(text, kind) {
    var p = document.createElement("p");
    p.className = kind === "ok" ? "ok notice" : "form-error";
    p.setAttribute("role", kind === "ok" ? "status" : "alert");
    p.textContent = text;
    return p;
  }

  function show(data, note) {
    result.textContent = "";
    var card = document.getElementById("redemption-card").content.cloneNode(true);
    var fields = {
      code: data.code,
      reward: data.reward ? data.reward.title + " (" + word(data.reward.kind) + ")" : "",
      holder: (data.holder_name_masked || "") + " " + (data.holder_phone_masked || ""),
      hours: (data.minutes / 60).toFixed(2) + " " + word("hours") + " (" + data.minutes + " " + word("minutes") + ")",
      status: word(data.status),
      expires_at: local(data.expires_at),
      fulfilled_at: local(data.fulfilled_at)
    };
    Object.keys(fields).forEach(function (name) {
      var slot = card.querySelector('[data-field="' + name + '"]');
      if (slot) slot.textContent = fields[name];
    });
    var badge = card.querySelector('[data-field="status"]');
    if (badge) badge.className = "badge " + (badges[data.status] || "");
    var fulfil = card.querySelector("form.fulfil");
    if (data.status === "issued") {
      fulfil.dataset.api = "/api/v1/redemptions/" + encodeURIComponent(data.code) + "/fulfil";
      fulfil.dataset.key = window.ConsoleApi ? window.ConsoleApi.newKey() : String(Date.now());
    } else {
      fulfil.remove();
    }
    if (note) result.appendChild(message(note, "ok"));
    result.appendChild(card);
  }

  function lookup(code) {
    code = normal(code);
    if (!code) return;
    result.textContent = "";
    result.classList.add("busy");
    fetch(form.dataset.lookup + encodeURIComponent(code), {
      headers: { "Accept": "application/json" }, credentials: "same-origin"
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        if (res.ok) show(data);
        else {
          var text = (data && data.message) || String(res.status);
          if (res.status === 404) text += " — " + word("unknown");
          result.appendChild(message(text));
        }
      });
    }, function () {
      result.appendChild(message(word("unreachable")));
    }).then(function () {
      result.classList.remove("busy");
      input.focus();
      input.select();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    form = document.getElementById("code-lookup");
    if (!form) return;
    input = document.getElementById("code");
    result = document.getElementById("code-result");
    zone = form.dataset.zone || "Asia/Shanghai";
    var table = document.getElementById("redemption-words");
    if (table) {
      table.content.querySelectorAll("[data-word]").forEach(function (w) {
        words[w.dataset.word] = w.textContent;
        if (w.dataset.badge !== undefined) badges[w.dataset.word] = w.dataset.badge;
      });
    }
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      lookup(input.value);
    });
    result.addEventListener("console:done", function (ev) {
      if (ev.detail && ev.detail.code) show(ev.detail, word("done"));
      input.focus();
      input.select();
    });
    input.focus();
  });
})();
