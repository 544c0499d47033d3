// The execution page's script: tabs that switch views in place, and live updates.
//
// Settings come from <main data-*> (the page's Content-Security-Policy allows no inline
// script): data-events (the dashboard's server-sent events for this run), data-fragment
// (the page's live parts as HTML), data-view, data-status.
//
// Live: on each history event of the run the fragment is fetched again (for the view and
// page shown) and its data-region parts swapped in. When the backend has no event stream
// (the stream's first message says mode "polling", or the stream fails) the fragment is
// fetched on a timer instead. Nothing runs once the run is closed. Without this script
// the page still works: the tabs and pagers are links.
(function () {
  "use strict";

  var main = document.querySelector("main[data-page-kind='execution']");
  if (!main) {
    return;
  }
  var POLL_MS = 10000; // the timer without an event stream (as the executions list's)
  var TICK_MS = 15000; // with a stream: open bars grow with time even when no event comes
  var DEBOUNCE_MS = 250;

  // -- tabs ------------------------------------------------------------------------------
  var tabs = Array.prototype.slice.call(main.querySelectorAll("[role='tab'][data-view]"));

  function panelOf(tab) {
    return document.getElementById(tab.getAttribute("aria-controls"));
  }

  function currentView() {
    return main.getAttribute("data-view") || "timeline";
  }

  function showView(view, focus) {
    tabs.forEach(function (tab) {
      var on = tab.getAttribute("data-view") === view;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.setAttribute("tabindex", on ? "0" : "-1");
      var panel = panelOf(tab);
      if (panel) {
        panel.hidden = !on;
      }
      if (on && focus) {
        tab.focus();
      }
    });
    main.setAttribute("data-view", view);
    if (window.history && window.history.replaceState) {
      var url = new URL(window.location.href);
      url.searchParams.set("view", view);
      url.searchParams.delete("page");
      var panel = document.querySelector("[data-region='view-" + view + "']");
      var page = panel ? panel.getAttribute("data-page") : "1";
      if (page && page !== "1") {
        url.searchParams.set("page", page);
      }
      url.hash = "";
      window.history.replaceState(null, "", url.toString());
    }
  }

  tabs.forEach(function (tab, index) {
    tab.addEventListener("click", function (event) {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) {
        return; // a new tab or window: the link as it is
      }
      event.preventDefault();
      showView(tab.getAttribute("data-view"), true);
    });
    tab.addEventListener("keydown", function (event) {
      var next = null;
      if (event.key === "ArrowRight" || event.key === "ArrowDown") {
        next = tabs[(index + 1) % tabs.length];
      } else if (event.key === "ArrowLeft" || event.key === "ArrowUp") {
        next = tabs[(index - 1 + tabs.length) % tabs.length];
      } else if (event.key === "Home") {
        next = tabs[0];
      } else if (event.key === "End") {
        next = tabs[tabs.length - 1];
      } else if (event.key === " " || event.key === "Spacebar") {
        next = tab;
      }
      if (next) {
        event.preventDefault();
        showView(next.getAttribute("data-view"), true);
      }
    });
  });

  // A link to an event of the JSON view (a bar, a group's event ids) that is already in this
  // page: switch to that view in place and bring the event into sight.
  main.addEventListener("click", function (event) {
    var link = event.target && event.target.closest ? event.target.closest("a[href*='view=json']") : null;
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) {
      return;
    }
    var url = new URL(link.getAttribute("href"), window.location.href);
    if (url.pathname !== window.location.pathname || !url.hash) {
      return;
    }
    var target = document.getElementById(url.hash.slice(1));
    var panel = document.querySelector("[data-region='view-json']");
    if (!target || !panel || !panel.contains(target)) {
      return; // on another page of the view: let the link load it
    }
    event.preventDefault();
    showView("json", false);
    window.history.replaceState(null, "", url.toString());
    var pre = target.querySelector("pre") || target;
    target.scrollIntoView({ block: "center" });
    pre.focus({ preventScroll: true });
  });

  // -- live updates ----------------------------------------------------------------------
  var fragmentUrl = main.getAttribute("data-fragment");
  var eventsUrl = main.getAttribute("data-events");
  var note = document.getElementById("live-note");
  var source = null;
  var pollTimer = null;
  var tickTimer = null;
  var pending = null;
  var inFlight = false;
  var again = false;

  function say(text) {
    if (note && note.textContent !== text) {
      note.textContent = text;
    }
  }

  function isOpen() {
    return main.getAttribute("data-status") === "OPEN";
  }

  function stop(text) {
    if (source) {
      source.close();
      source = null;
    }
    if (pollTimer) {
      window.clearInterval(pollTimer);
      pollTimer = null;
    }
    if (tickTimer) {
      window.clearInterval(tickTimer);
      tickTimer = null;
    }
    if (text) {
      say(text);
    }
  }

  function sameContent(a, b) {
    return a.outerHTML === b.outerHTML;
  }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var active = document.activeElement;
    var activeId = active && active.id ? active.id : null;
    var view = currentView();
    Array.prototype.forEach.call(doc.querySelectorAll("[data-region]"), function (fresh) {
      var name = fresh.getAttribute("data-region");
      var old = document.querySelector("[data-region='" + name + "']");
      if (!old) {
        return;
      }
      var panelView = fresh.getAttribute("data-view");
      if (panelView) {
        fresh.hidden = panelView !== view; // the view chosen now, whatever it was when asked
        if (panelView !== view && old.getAttribute("data-page") !== fresh.getAttribute("data-page")) {
          return; // a hidden view left at another page: keep it as the user left it
        }
      }
      if (sameContent(old, fresh)) {
        return;
      }
      var scroll = old.scrollTop;
      var adopted = document.importNode(fresh, true);
      old.parentNode.replaceChild(adopted, old);
      adopted.scrollTop = scroll;
    });
    if (activeId && !document.getElementById(activeId)) {
      activeId = null;
    }
    if (activeId && document.activeElement !== document.getElementById(activeId)) {
      document.getElementById(activeId).focus({ preventScroll: true });
    }
    var summary = document.querySelector("[data-region='summary']");
    if (summary) {
      main.setAttribute("data-status", summary.getAttribute("data-status") || "");
    }
    if (!isOpen()) {
      stop("The run is closed: this is its whole history.");
    }
  }

  function pageOf(view) {
    var panel = document.querySelector("[data-region='view-" + view + "']");
    return panel ? panel.getAttribute("data-page") || "1" : "1";
  }

  function refresh() {
    pending = null;
    if (!fragmentUrl) {
      return;
    }
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    var view = currentView();
    var url = fragmentUrl + "?view=" + encodeURIComponent(view) + "&page=" + encodeURIComponent(pageOf(view));
    window
      .fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(swap)
      .catch(function () {
        say("Could not refresh; trying again.");
      })
      .then(function () {
        inFlight = false;
        if (again && isOpen()) {
          again = false;
          later();
        }
      });
  }

  function later() {
    if (!pending) {
      pending = window.setTimeout(refresh, DEBOUNCE_MS);
    }
  }

  function poll(reason) {
    if (source) {
      source.close();
      source = null;
    }
    if (!pollTimer && isOpen()) {
      say(reason + " Refreshing every " + POLL_MS / 1000 + " s.");
      pollTimer = window.setInterval(function () {
        if (isOpen()) {
          refresh();
        } else {
          stop();
        }
      }, POLL_MS);
    }
  }

  function listen() {
    if (!eventsUrl || !window.EventSource) {
      poll("This browser has no event stream.");
      return;
    }
    var decided = false;
    source = new window.EventSource(eventsUrl);
    source.addEventListener("mode", function (event) {
      decided = true;
      var mode = "";
      try {
        mode = JSON.parse(event.data).mode;
      } catch (e) {
        mode = "";
      }
      if (mode === "polling") {
        poll("This backend has no event stream.");
      } else {
        say("Live: the history grows as events come.");
        later(); // anything written between the page and the stream
        if (!tickTimer) {
          tickTimer = window.setInterval(function () {
            if (isOpen()) {
              refresh();
            }
          }, TICK_MS);
        }
      }
    });
    source.addEventListener("history", function (event) {
      var data = null;
      try {
        data = JSON.parse(event.data);
      } catch (e) {
        data = null;
      }
      var summary = document.querySelector("[data-region='summary']");
      var last = summary ? parseInt(summary.getAttribute("data-last-event") || "0", 10) : 0;
      if (data && typeof data.eventId === "number" && data.eventId <= last) {
        return; // already shown
      }
      later();
    });
    source.addEventListener("lost", later);
    source.addEventListener("error", function (event) {
      if (event.data) {
        poll("The event stream ended.");
        return; // the server's own "error" message
      }
      if (!source || source.readyState === window.EventSource.CLOSED || !decided) {
        poll("The event stream is unavailable.");
      }
    });
  }

  if (fragmentUrl && isOpen()) {
    listen();
  } else if (!fragmentUrl) {
    say("");
  }
  window.addEventListener("pagehide", function () {
    stop();
  });
})();
