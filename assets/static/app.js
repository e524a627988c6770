// Progressive enhancement only: every page works without this file (forms post normally,
// missing images show the stylesheet's placeholder, all checkboxes are listed).
(function () {
  "use strict";
  var placeholder = document.body.getAttribute("data-placeholder");

  // Article images come from other sites and may be gone: show the local placeholder instead
  // of a broken image. The card keeps its 16:9 box, so nothing moves.
  function usePlaceholder(img) {
    if (!placeholder || img.getAttribute("src") === placeholder) return;
    img.setAttribute("src", placeholder);
    img.setAttribute("data-fallback", "");
    if (img.parentNode && img.parentNode.classList) img.parentNode.classList.add("is-placeholder");
  }
  document.querySelectorAll(".card-media img").forEach(function (img) {
    img.addEventListener("error", function () { usePlaceholder(img); }, { once: true });
    // The image may have failed before this deferred script ran.
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) usePlaceholder(img);
  });

  // Flash messages can be dismissed.
  document.querySelectorAll("[data-flash]").forEach(function (flash) {
    var close = document.createElement("button");
    close.type = "button";
    close.className = "flash-close";
    close.setAttribute("aria-label", "Dismiss message");
    close.textContent = "\u00d7";
    close.addEventListener("click", function () {
      var wrap = flash.parentNode;
      (wrap && wrap.classList.contains("flash-wrap") ? wrap : flash).remove();
      var main = document.getElementById("main");
      if (main) main.focus();
    });
    flash.appendChild(close);
  });

  // Save buttons: toggled in place through the API, with the reader's CSRF token from the
  // page's save form. Anything but success falls back to posting the form, so the server's
  // own answer (the page again, a login, or "try again" while the database switches over)
  // is what the reader sees.
  var saveForm = document.getElementById("save-form");
  var saveStatus = document.querySelector("[data-save-status]");
  function setSaved(button, saved) {
    var id = button.getAttribute("data-save");
    button.setAttribute("aria-pressed", saved ? "true" : "false");
    button.setAttribute("formaction", "/saved/" + id + (saved ? "/remove" : ""));
    var label = button.querySelector("[data-save-label]");
    if (label) label.textContent = saved ? "Saved" : "Save";
  }
  if (saveForm && window.fetch) {
    var tokenField = saveForm.querySelector("input[name=csrf_token]");
    document.addEventListener("click", function (e) {
      var button = e.target.closest ? e.target.closest("button[data-save]") : null;
      if (!button || button.getAttribute("form") !== "save-form") return;
      e.preventDefault();
      if (button.getAttribute("aria-busy") === "true") return;
      var save = button.getAttribute("aria-pressed") !== "true";
      button.setAttribute("aria-busy", "true");
      fetch("/api/v1/saved/" + encodeURIComponent(button.getAttribute("data-save")), {
        method: save ? "PUT" : "DELETE",
        headers: { "X-CSRF-Token": tokenField ? tokenField.value : "" },
        credentials: "same-origin"
      }).then(function (r) {
        button.removeAttribute("aria-busy");
        if (!r.ok) throw new Error("HTTP " + r.status);
        setSaved(button, save);
        if (saveStatus) saveStatus.textContent = save ? "Article saved." : "Article removed from your saved articles.";
      }).catch(function () {
        button.removeAttribute("aria-busy");
        if (saveForm.requestSubmit) saveForm.requestSubmit(button);
        else { saveForm.action = button.getAttribute("formaction"); saveForm.submit(); }
      });
    });
  }

  // Customize page: per group, find-as-you-type, select all (the shown choices) and clear,
  // with live counts; and a note when the form has unsaved changes.
  var form = document.querySelector("[data-customize]");
  if (!form) return;
  var note = form.querySelector("[data-dirty-note]");
  var allBoxes = Array.prototype.slice.call(form.querySelectorAll("input[type=checkbox]"));
  var initial = allBoxes.map(function (b) { return b.checked; });
  var savedNote = note ? note.textContent : "";
  function markDirty() {
    if (!note) return;
    var dirty = allBoxes.some(function (b, i) { return b.checked !== initial[i]; });
    var text = dirty ? "Unsaved changes" : savedNote;
    if (note.textContent !== text) note.textContent = text;
    note.classList.toggle("is-dirty", dirty);
  }

  form.querySelectorAll("[data-group]").forEach(function (group) {
    var tools = group.querySelector("[data-tools]");
    var boxes = Array.prototype.slice.call(group.querySelectorAll("input[type=checkbox]"));
    var count = group.querySelector("[data-count]");
    var total = count.getAttribute("data-total") || String(boxes.length);
    var filter = group.querySelector("[data-filter]");
    var noMatch = group.querySelector("[data-no-match]");
    var sections = Array.prototype.slice.call(group.querySelectorAll("[data-section]"));
    var selectLabel = group.querySelector("[data-select-label]");
    if (!tools) return;
    tools.hidden = false;

    function update() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      count.textContent = n === 0 ? "All" : n + " of " + total + " selected";
      count.classList.toggle("is-active", n > 0);
      markDirty();
    }
    function shown() {
      return boxes.filter(function (b) { return !b.closest(".choice").hidden; });
    }
    function applyFilter() {
      var q = filter.value.trim().toLowerCase();
      boxes.forEach(function (b) {
        var label = b.closest(".choice");
        var text = label.textContent.trim().toLowerCase() + " " + b.value.toLowerCase();
        label.hidden = q !== "" && text.indexOf(q) === -1;
      });
      sections.forEach(function (s) {
        s.hidden = !Array.prototype.some.call(s.querySelectorAll(".choice"), function (c) { return !c.hidden; });
      });
      noMatch.hidden = shown().length > 0;
      if (selectLabel) selectLabel.textContent = q === "" ? "Select all" : "Select shown";
    }

    group.querySelector("[data-select-all]").addEventListener("click", function () {
      shown().forEach(function (b) { b.checked = true; });
      update();
    });
    group.querySelector("[data-clear]").addEventListener("click", function () {
      boxes.forEach(function (b) { b.checked = false; });
      update();
    });
    filter.addEventListener("input", applyFilter);
    filter.addEventListener("keydown", function (e) {
      // Enter in the search box must not submit the whole form; Escape clears the search.
      if (e.key === "Enter") {
        e.preventDefault();
        var first = shown()[0];
        if (first) first.focus();
      } else if (e.key === "Escape" && filter.value !== "") {
        e.preventDefault();
        filter.value = "";
        applyFilter();
      }
    });
    boxes.forEach(function (b) { b.addEventListener("change", update); });
    update();
  });
})();
