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

// Copy buttons: <button data-copy="ELEMENT_ID"> copies that element's text.
document.addEventListener("click", function (event) {
  var button = event.target.closest && event.target.closest("button[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.innerText.trim()).then(function () {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});
