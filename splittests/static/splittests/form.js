// The new split test form: show only the fields of the chosen goal type (the server ignores the
// others too), and the target amount only when a target is chosen.
(function () {
  var form = document.getElementById("split-test-form");
  if (!form) return;
  var goal = form.elements["goal_type"], mode = form.elements["revenue_mode"];
  var target = form.elements["revenue_target"].closest(".field");
  function sync() {
    form.querySelectorAll("fieldset[data-goal]").forEach(function (set) {
      set.style.display = set.dataset.goal === goal.value ? "" : "none";
    });
    target.style.display = mode.value === "target" ? "" : "none";
  }
  goal.addEventListener("change", sync);
  mode.addEventListener("change", sync);
  sync();
})();
