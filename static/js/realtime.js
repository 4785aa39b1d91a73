// "Visitors now" on the dashboard (and a shared dashboard): refreshed every 30 s from ./now/ without a
// reload. Skipped while the tab is hidden; a failed request keeps the last figure.
(function () {
  "use strict";
  var box = document.getElementById("visitors-now");
  if (!box || !window.fetch) return;
  var figure = box.querySelector("strong");
  var label = box.querySelector(".live-label");
  function show(visitors) {
    figure.textContent = visitors.toLocaleString("en-US");
    label.textContent = visitors === 1 ? "visitor now" : "visitors now";
  }
  function refresh() {
    if (document.hidden) return;
    fetch(box.getAttribute("data-src"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data && typeof data.visitors === "number") show(data.visitors); })
      .catch(function () {});
  }
  setInterval(refresh, 30000);
  document.addEventListener("visibilitychange", refresh);
})();
