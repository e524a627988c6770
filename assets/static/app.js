// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  var placeholder = document.body.getAttribute("data-placeholder");

  // Article images come from other sites and may be gone: show the local placeholder instead.
  function usePlaceholder(img) {
    if (placeholder && img.getAttribute("src") !== placeholder) {
      img.setAttribute("src", placeholder);
    }
  }
  document.querySelectorAll(".card-media img").forEach(function (img) {
    if (img.complete && img.naturalWidth === 0) usePlaceholder(img);
    img.addEventListener("error", function () { usePlaceholder(img); }, { once: true });
  });

  // Customize page: filter, select all and clear, per group, with a live count.
  document.querySelectorAll("[data-group]").forEach(function (group) {
    var tools = group.querySelector("[data-tools]");
    var boxes = Array.prototype.slice.call(group.querySelectorAll("input[type=checkbox]"));
    var count = group.querySelector("[data-count]");
    if (!tools) return;
    tools.hidden = false;
    function update() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      count.textContent = n === 0 ? "all" : n + " selected";
    }
    function visible() {
      return boxes.filter(function (b) { return !b.closest(".choice").hidden; });
    }
    group.querySelector("[data-select-all]").addEventListener("click", function () {
      visible().forEach(function (b) { b.checked = true; });
      update();
    });
    group.querySelector("[data-clear]").addEventListener("click", function () {
      boxes.forEach(function (b) { b.checked = false; });
      update();
    });
    group.querySelector("[data-filter]").addEventListener("input", function (e) {
      var q = e.target.value.trim().toLowerCase();
      boxes.forEach(function (b) {
        var label = b.closest(".choice");
        label.hidden = q !== "" && label.textContent.toLowerCase().indexOf(q) === -1;
      });
    });
    boxes.forEach(function (b) { b.addEventListener("change", update); });
  });
})();
