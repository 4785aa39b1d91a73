// Small progressive enhancements for the customer pages (no build step, nothing required to use them).
(function () {
  "use strict";

  // A table wider than its box becomes one labelled card per row instead of scrolling sideways.
  function labelCells(table) {
    var heads = table.querySelectorAll("thead th");
    if (!heads.length) return;
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (heads[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", heads[i].innerText.trim());
      });
    });
  }
  function fitTables() {
    document.querySelectorAll("main table").forEach(function (table) {
      table.classList.remove("stacked");
      var box = table.parentElement;
      if (table.scrollWidth > box.clientWidth + 1 || table.getBoundingClientRect().right > window.innerWidth) {
        labelCells(table);
        table.classList.add("stacked");
      }
    });
  }
  var timer;
  window.addEventListener("resize", function () { clearTimeout(timer); timer = setTimeout(fitTables, 100); });
  document.addEventListener("DOMContentLoaded", fitTables);
})();
