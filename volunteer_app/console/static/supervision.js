/* The "raise a supervision item" form: its API address names the site chosen in its select
 * (data-api-template="/api/v1/sites/{id}/supervision-items", the select marked data-api-site). The
 * select's value is kept in the address only, not sent in the body.
 */
(function () {
  "use strict";

  function point(form) {
    var select = form.querySelector("[data-api-site]");
    if (select) form.dataset.api = form.dataset.apiTemplate.replace("{id}", encodeURIComponent(select.value));
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-api-template]").forEach(function (form) {
      point(form);
      form.addEventListener("change", function () { point(form); });
      form.addEventListener("submit", function () { point(form); }, true);
    });
  });
})();
