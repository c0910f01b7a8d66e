/* Activities and service days: a service-day rule's preview before saving.
 *
 * form[data-preview] (the rule form): select[data-kind] shows the [data-kinds] boxes of the chosen
 *   kind and disables the others' fields (disabled fields are not sent); button[data-preview-button]
 *   sends the spec to GET …/service-day-rules/preview and shows the rule read back in words with its
 *   next dates on the site's clock, or the API's errors next to the fields. Save ([data-save]) is
 *   enabled only while the spec on screen is the one previewed.
 */
(function () {
  "use strict";

  function isEn() {
    return (document.documentElement.lang || "").indexOf("en") === 0;
  }

  // ---- the rule form -------------------------------------------------------------------------------

  function showKind(form) {
    var kind = form.querySelector("[data-kind]").value;
    form.querySelectorAll("[data-kinds]").forEach(function (box) {
      var on = box.dataset.kinds.split(" ").indexOf(kind) >= 0;
      box.hidden = !on;
      box.querySelectorAll("input, select, textarea").forEach(function (field) { field.disabled = !on; });
    });
  }

  function spec(form) {
    return window.ConsoleApi.collect(form).spec || {};
  }

  function previewUrl(form) {
    var params = new URLSearchParams();
    var given = spec(form);
    Object.keys(given).forEach(function (key) {
      var value = given[key];
      (Array.isArray(value) ? value : [value]).forEach(function (item) { params.append(key, String(item)); });
    });
    params.append("count", "5");
    return form.dataset.preview + "?" + params.toString();
  }

  function showErrors(form, status, data) {
    // Beside the Preview button (the form's top may be out of sight). The preview takes the spec as
    // query parameters (errors.query.days) and checks it whole (errors.json.spec.days): both name the
    // form's spec.* fields.
    var api = window.ConsoleApi;
    var errors = (data && data.errors) || {};
    var fields = api.flatten(errors.query, "spec", {});
    api.flatten(errors.json && errors.json.spec, "spec", fields);
    api.showErrors(form, status, data, { place: form.querySelector("[data-preview-errors]"), fields: fields });
  }

  function zoned(zone, options) {
    try {
      return new Intl.DateTimeFormat(isEn() ? "en-GB" : "zh-CN", Object.assign({ timeZone: zone }, options));
    } catch (e) {
      return new Intl.DateTimeFormat(isEn() ? "en-GB" : "zh-CN", options);
    }
  }

  function showPreview(form, data) {
    var out = form.querySelector("[data-preview-out]");
    out.querySelector("[data-preview-text]").textContent = isEn() ? data.description_en : data.description;
    out.querySelector("[data-preview-zone]").textContent = data.timezone;
    var weekday = zoned(data.timezone, { weekday: "short" });
    var clock = zoned(data.timezone, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    var list = out.querySelector("[data-preview-dates]");
    list.textContent = "";
    data.next_occurrences.forEach(function (o) {
      var start = new Date(o.start_at), end = new Date(o.end_at);
      var item = document.createElement("li");
      item.textContent = o.date + " " + weekday.format(start) + " " + clock.format(start) + "–" + clock.format(end);
      list.appendChild(item);
    });
    out.querySelector("[data-preview-none]").hidden = data.next_occurrences.length > 0;
    out.hidden = false;
  }

  function setup(form) {
    var previewed = null;  // the spec (as JSON) last read back by the API
    var save = form.querySelector("[data-save]");
    var first = form.querySelector("[data-preview-first]");
    var out = form.querySelector("[data-preview-out]");
    var button = form.querySelector("[data-preview-button]");

    function refresh() {
      var fresh = previewed !== null && previewed === JSON.stringify(spec(form));
      save.disabled = !fresh;
      first.hidden = fresh;
      if (!fresh) out.hidden = true;
    }

    function preview() {
      var asked = JSON.stringify(spec(form));
      window.ConsoleApi.clearErrors(form);
      button.disabled = true;
      fetch(previewUrl(form), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (res) {
          return res.json().catch(function () { return null; }).then(function (data) {
            if (res.ok && data) {
              previewed = asked;
              showPreview(form, data);
            } else {
              previewed = null;
              showErrors(form, res.status, data);
            }
          });
        }, function () {
          previewed = null;
          showErrors(form, 0, null);
        })
        .then(function () {
          button.disabled = false;
          refresh();
        });
    }

    form.querySelector("[data-kind]").addEventListener("change", function () { showKind(form); });
    form.addEventListener("input", refresh);
    form.addEventListener("change", refresh);
    button.addEventListener("click", preview);
    showKind(form);  // the browser may have restored another kind
    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-preview]").forEach(setup);
  });
})();
