// The executions list: refresh the results when the domain's events say runs started or closed
// (server-sent events from data-events), or every 10 s where the backend has no event stream.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var results = document.getElementById("results");
  var live = document.getElementById("live");
  if (!main || !results || !main.dataset.events) return;
  var firstPage = main.dataset.firstPage === "yes";
  var INTERVAL = 10000;
  var pending = null;
  var busy = false;

  function say(text) { if (live) live.textContent = text; }

  function refresh() {
    pending = null;
    if (busy || document.hidden) return;
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("results");
        if (fresh) results.replaceChildren.apply(results, Array.prototype.slice.call(fresh.childNodes));
      })
      .catch(function () { /* the next event or tick tries again */ })
      .then(function () { busy = false; });
  }

  function soon(delay) { if (pending === null) pending = setTimeout(refresh, delay); }

  var LIFECYCLE = /^(WorkflowExecution(Started|Completed|Failed|TimedOut|Canceled|Terminated|ContinuedAsNew|CancelRequested))$/;
  var source = new EventSource(main.dataset.events);
  source.addEventListener("mode", function (e) {
    var mode = JSON.parse(e.data).mode;
    if (mode === "polling") {
      source.close();
      say("This backend streams no events: the list refreshes every 10 s.");
      if (firstPage) setInterval(function () { soon(0); }, INTERVAL);
    } else {
      say(firstPage ? "Live: the list follows the domain's events." : "Live updates on the first page only.");
    }
  });
  source.addEventListener("history", function (e) {
    if (!firstPage) return;
    var data = JSON.parse(e.data);
    if (LIFECYCLE.test(data.eventType)) soon(500);
  });
  source.addEventListener("lost", function () { if (firstPage) soon(500); });
  source.addEventListener("error", function () { say("Live updates interrupted; reconnecting…"); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden && firstPage) soon(0); });
})();
