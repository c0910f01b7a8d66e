/* The order page's behaviour (loaded by console/order.html; console.js sends the forms).
 *
 * [data-picker data-api="/api/v1/sites/{id}/volunteers" data-for="form-id"]: the dispatch picker. It
 *   searches the station's volunteers (by name or phone tail [data-picker-q], skill
 *   [data-picker-skill], team [data-picker-team]) through the JSON API with the cookie, shows each
 *   one's hours, star level, open tasks, teams and skills, and "Choose" adds a checked
 *   <input name="volunteer_ids" data-type="ints"> to the form's [data-chosen] box (a later search
 *   keeps the chosen). "More" follows next_cursor. With [data-for-order] it asks for_order: who fits
 *   the order comes first, marked (✓ and the order's skills they have, the row class "fits").
 * form[data-audit]: a changed minute marks its row (console.js sends the rows, named
 *   "assignments.N.*", as the audit's list).
 */
(function () {
  "use strict";

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  // ---- the picker ----------------------------------------------------------------------------

  function chosenIds(form) {
    return Array.prototype.map.call(
      form.querySelectorAll('[data-chosen] input[name="volunteer_ids"]'),
      function (input) { return input.value; }
    );
  }

  function refreshEmpty(form) {
    var empty = form.querySelector("[data-chosen-empty]");
    if (empty) empty.hidden = form.querySelectorAll("[data-chosen] input").length > 0;
  }

  function choose(form, person) {
    if (chosenIds(form).indexOf(String(person.user_id)) >= 0) return;
    var label = el("label", null, "chip");
    var box = document.createElement("input");
    box.type = "checkbox";
    box.name = "volunteer_ids";
    box.value = String(person.user_id);
    box.checked = true;
    box.dataset.type = "ints";
    label.appendChild(box);
    label.appendChild(document.createTextNode(" " + person.name + " · " + person.phone));
    form.querySelector("[data-chosen]").appendChild(label);
    refreshEmpty(form);
  }

  // How the volunteer fits the order (the API's `matches`): a mark when they fit, the order's skills
  // they have, and whether its category is among theirs.
  function matchCell(picker, matches) {
    var cell = el("td", null, "match");
    if (!matches) return cell;
    if (matches.fits) cell.appendChild(el("strong", "✓ " + picker.dataset.lFits, "badge green"));
    var notes = [];
    if (matches.category) notes.push(picker.dataset.lCategory);
    notes = notes.concat(matches.skills || []);
    if (notes.length) {
      if (cell.firstChild) cell.appendChild(document.createElement("br"));
      cell.appendChild(el("span", notes.join("、"), "muted"));
    }
    return cell;
  }

  function row(picker, form, person) {
    var tr = document.createElement("tr");
    var who = el("td", person.name);
    if (person.real_name && person.real_name !== person.name) who.appendChild(el("span", " (" + person.real_name + ")", "muted"));
    who.appendChild(document.createElement("br"));
    who.appendChild(el("span", person.phone + " · " + person.volunteer_no, "muted"));
    tr.appendChild(who);
    tr.appendChild(el("td", person.station && person.station.name));
    tr.appendChild(el("td", Number(person.lifetime_hours).toFixed(2), "num"));
    tr.appendChild(el("td", "★" + person.star_level, "num"));
    tr.appendChild(el("td", person.open_tasks, "num"));
    tr.appendChild(el("td", (person.teams || []).map(function (t) { return t.name; }).join("、")));
    tr.appendChild(el("td", (person.skills || []).join("、")));
    tr.appendChild(matchCell(picker, person.matches));
    if (person.matches && person.matches.fits) tr.classList.add("fits");
    var cell = el("td");
    var button = el("button", picker.dataset.lChoose);
    button.type = "button";
    button.addEventListener("click", function () { choose(form, person); button.disabled = true; });
    if (chosenIds(form).indexOf(String(person.user_id)) >= 0) button.disabled = true;
    cell.appendChild(button);
    tr.appendChild(cell);
    return tr;
  }

  function search(picker, cursor) {
    var form = document.getElementById(picker.dataset.for);
    var params = new URLSearchParams();
    var q = picker.querySelector("[data-picker-q]").value.trim();
    var skill = picker.querySelector("[data-picker-skill]").value.trim();
    var team = picker.querySelector("[data-picker-team]").value;
    if (q) params.set("q", q);
    if (skill) params.set("skill", skill);
    if (team) params.set("team_id", team);
    if (picker.dataset.forOrder) params.set("for_order", picker.dataset.forOrder);
    params.set("limit", "20");
    if (cursor) params.set("cursor", cursor);
    var rows = picker.querySelector("[data-picker-rows]");
    var table = picker.querySelector(".picker-results");
    var status = picker.querySelector("[data-picker-status]");
    var more = picker.querySelector("[data-picker-more]");
    var error = picker.querySelector("[data-picker-error]");
    error.hidden = true;
    status.hidden = false;
    status.textContent = picker.dataset.lLoading;
    more.hidden = true;
    fetch(picker.dataset.api + "?" + params.toString(), {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        status.hidden = true;
        if (!res.ok) {
          error.hidden = false;
          var fields = data && data.errors && data.errors.query;
          error.textContent = ((data && data.message) || res.status) +
            (fields ? " — " + Object.keys(fields).map(function (k) { return k + ": " + fields[k]; }).join("; ") : "");
          return;
        }
        if (!cursor) rows.textContent = "";
        data.items.forEach(function (person) { rows.appendChild(row(picker, form, person)); });
        table.hidden = rows.children.length === 0;
        if (rows.children.length === 0) { status.hidden = false; status.textContent = picker.dataset.lEmpty; }
        more.hidden = !data.next_cursor;
        more.dataset.cursor = data.next_cursor || "";
      });
    }, function () {
      status.hidden = true;
      error.hidden = false;
      error.textContent = "…";
    });
  }

  function setUpPicker(picker) {
    picker.querySelector("[data-picker-search]").addEventListener("click", function () { search(picker); });
    picker.querySelector("[data-picker-q]").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); search(picker); }
    });
    picker.querySelector("[data-picker-skill]").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") { ev.preventDefault(); search(picker); }
    });
    picker.querySelector("[data-picker-team]").addEventListener("change", function () { search(picker); });
    var more = picker.querySelector("[data-picker-more]");
    more.addEventListener("click", function () { search(picker, more.dataset.cursor); });
    var form = document.getElementById(picker.dataset.for);
    if (form) form.addEventListener("change", function () { refreshEmpty(form); });
  }

  // ---- the audit -----------------------------------------------------------------------------

  function setUpAudit(form) {
    form.querySelectorAll("[data-audit-minutes]").forEach(function (input) {
      input.addEventListener("input", function () {
        input.closest("tr").classList.toggle("changed", input.value !== input.dataset.computed);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-picker]").forEach(setUpPicker);
    document.querySelectorAll("form[data-audit]").forEach(setUpAudit);
  });
})();
