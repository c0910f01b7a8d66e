/* The Statistics area's exports: each export button is a <form data-api=".../exports" data-then="event"
 * data-export> that console.js sends (cookie, CSRF, Idempotency-Key); the API answers 202 with the job.
 * Here the job is followed: GET /api/v1/jobs/{id} every second into a <progress>, until it is done (a
 * download link to its result_url) or failed (its error). A refusal (4xx: signed out, not allowed, the
 * job gone) stops the following and shows the API's message; a server error or a lost answer is asked
 * again, less and less often. Words come from the list's data-t-* attributes, written by the page in
 * the reader's language.
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var MAX_WAIT_MS = 30000;  // the longest wait between two questions while the server fails

  function word(list, key) {
    return list.dataset["t" + key.charAt(0).toUpperCase() + key.slice(1)] || key;
  }

  function show(item, job) {
    var list = item.parentNode;
    var bar = item.querySelector("progress");
    var state = item.querySelector(".state");
    if (job.total) {
      bar.max = job.total;
      bar.value = Math.min(job.done || 0, job.total);
    } else if (job.state === "done") {
      bar.max = 1;
      bar.value = 1;
    } else {
      bar.removeAttribute("value");  // indeterminate until the total is known
    }
    var key = job.state === "done" ? "done"
      : (job.state === "failed" || job.state === "dead") ? "failed"
      : job.state === "running" ? "running" : "queued";
    state.textContent = word(list, key) + (job.total ? " " + (job.done || 0) + " / " + job.total : "");
    if (key === "failed" && job.error) state.textContent += " — " + job.error;
    if (job.state === "done" && job.result_url && !item.querySelector("a")) {
      var link = document.createElement("a");
      link.href = job.result_url;
      link.className = "download";
      link.textContent = word(list, "download");
      item.appendChild(link);
    }
    return key === "done" || key === "failed";
  }

  // The job can no longer be followed (signed out 401, no longer allowed 403, gone 404/410, any
  // other refusal): say so with the API's message and stop asking.
  function refused(item, status, data) {
    var list = item.parentNode;
    var state = item.querySelector(".state");
    var bar = item.querySelector("progress");
    if (bar) bar.remove();
    state.textContent = word(list, "failed") + " — " + ((data && data.message) || String(status));
    item.classList.add("failed");
  }

  function follow(item, job, wait) {
    if (show(item, job)) return;
    setTimeout(function () {
      fetch("/api/v1/jobs/" + encodeURIComponent(job.id), {
        credentials: "same-origin", headers: { "Accept": "application/json" }
      }).then(function (res) {
        return res.json().catch(function () { return null; }).then(function (data) {
          if (res.ok && data) follow(item, data);
          else if (res.status >= 400 && res.status < 500 && res.status !== 429) refused(item, res.status, data);
          else follow(item, job, Math.min((wait || POLL_MS) * 2, MAX_WAIT_MS));  // busy or failing: later
        });
      }, function () {
        follow(item, job, Math.min((wait || POLL_MS) * 2, MAX_WAIT_MS));  // a lost answer: ask again later
      });
    }, wait || POLL_MS);
  }

  document.addEventListener("console:done", function (ev) {
    var form = ev.target;
    if (!form.matches || !form.matches("form[data-export]") || !ev.detail || !ev.detail.id) return;
    var list = document.querySelector("[data-export-jobs]");
    if (!list) return;
    var item = document.createElement("li");
    item.dataset.job = ev.detail.id;
    var label = document.createElement("span");
    label.className = "label";
    label.textContent = form.dataset.label || "";
    var bar = document.createElement("progress");
    var state = document.createElement("span");
    state.className = "state";
    item.appendChild(label);
    item.appendChild(bar);
    item.appendChild(state);
    list.insertBefore(item, list.firstChild);
    follow(item, ev.detail);
  });
})();
