/* The settings form sends only what was changed: before console.js collects the form (its submit
 * listener is on the document, this one on the form, so this runs first), every input still holding
 * the value the page was drawn with is marked data-skip. The ranking weights are one table that
 * replaces the inherited one whole: if any weight changed, all of them are sent.
 */
(function () {
  "use strict";

  function changed(el) {
    if (el.tagName === "SELECT") {
      return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return el.value !== el.defaultValue;
  }

  function mark(form) {
    var groups = {};
    var fields = Array.prototype.filter.call(form.elements, function (el) { return el.name; });
    fields.forEach(function (el) {
      var group = el.dataset.group;
      if (group && changed(el)) groups[group] = true;
    });
    fields.forEach(function (el) {
      var keep = el.dataset.group ? groups[el.dataset.group] : changed(el);
      if (keep) delete el.dataset.skip;
      else el.dataset.skip = "";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-settings]").forEach(function (form) {
      form.addEventListener("submit", function () { mark(form); });
    });
  });
})();
