// crossmedia preview site: search and filters on the index, the before/after divider.
// No framework, no requests: works from file:// as well as from `crossmedia serve`.
(function () {
  "use strict";
  var form = document.getElementById("filters");
  var grid = document.getElementById("assets");
  if (form && grid) {
    var cards = Array.prototype.slice.call(grid.querySelectorAll(".card"));
    var shown = document.getElementById("shown");
    var apply = function () {
      var q = form.elements.q.value.trim().toLowerCase();
      var profile = form.elements.profile.value, media = form.elements.media.value, status = form.elements.status.value;
      var review = form.elements.review ? form.elements.review.value : "";
      var warn = form.elements.warnings.checked, n = 0;
      cards.forEach(function (c) {
        var d = c.dataset;
        var ok = (!q || d.search.indexOf(q) !== -1) && (!profile || d.profile === profile) &&
                 (!media || d.media === media) && (!status || d.status === status) && (!warn || d.warnings !== "0") &&
                 (!review || d.review === review);
        c.hidden = !ok;
        if (ok) { n += 1; }
      });
      shown.textContent = n + " of " + cards.length + " shown";
    };
    form.addEventListener("input", apply);
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (e) { e.preventDefault(); });
    // The counts on top are shortcuts: "failed" shows the failed inputs, "assets" shows all.
    document.querySelectorAll(".counts button").forEach(function (b) {
      b.addEventListener("click", function () {
        var kind = b.getAttribute("data-filter");
        form.elements.status.value = (kind === "processed" || kind === "failed" || kind === "skipped") ? kind : "";
        form.elements.warnings.checked = kind === "warnings";
        document.querySelectorAll(".counts button").forEach(function (o) { o.setAttribute("aria-pressed", String(o === b)); });
        apply();
      });
    });
    apply();
  }
  // Review forms (issue #14), shown only by `crossmedia serve --review`: the name is remembered,
  // a click on the picture pins the comment to that spot, a button pins it to the player's time.
  var forms = Array.prototype.slice.call(document.querySelectorAll("form[data-review-only]:not([hidden])"));
  forms.forEach(function (f) {
    var by = f.elements.by;
    try {
      if (by && !by.readOnly && !by.value) { by.value = localStorage.getItem("crossmedia-reviewer") || ""; }
      f.addEventListener("submit", function () { if (by && !by.readOnly) { localStorage.setItem("crossmedia-reviewer", by.value); } });
    } catch (e) { /* storage refused: type the name each time */ }
    var shown = f.querySelector(".pin-shown");
    var frame = document.querySelector(".source .crop-frame");
    if (frame && f.elements.pin_x) {
      frame.classList.add("pinnable");
      frame.addEventListener("click", function (e) {
        var box = frame.getBoundingClientRect();
        var x = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
        var y = Math.min(1, Math.max(0, (e.clientY - box.top) / box.height));
        f.elements.pin_x.value = x.toFixed(4); f.elements.pin_y.value = y.toFixed(4);
        var mark = frame.querySelector(".pin-new") || frame.appendChild(document.createElement("span"));
        mark.className = "pin pin-new"; mark.textContent = "+";
        mark.style.left = (x * 100) + "%"; mark.style.top = (y * 100) + "%";
        if (shown) { shown.textContent = "pinned at " + Math.round(x * 100) + " %, " + Math.round(y * 100) + " %"; }
      });
    }
    var pinTime = f.querySelector(".pin-time"), player = document.querySelector("video, audio");
    if (pinTime && player) {
      pinTime.addEventListener("click", function () {
        f.elements.pin_t.value = player.currentTime.toFixed(2);
        if (shown) { shown.textContent = "pinned at " + player.currentTime.toFixed(1) + " s"; }
      });
    }
  });
  document.querySelectorAll("button[data-review=changes]").forEach(function (b) {
    b.addEventListener("click", function (e) {
      var c = b.form.elements.comment;
      if (c && !c.value.trim()) { e.preventDefault(); c.setCustomValidity("Say what to change."); c.reportValidity(); }
      else if (c) { c.setCustomValidity(""); }
    });
  });

  document.querySelectorAll(".compare").forEach(function (fig) {
    var range = fig.querySelector("input[type=range]"), frame = fig.querySelector(".compare-frame");
    var set = function () { frame.style.setProperty("--pos", range.value + "%"); };
    range.addEventListener("input", set);
    set();
  });
}());
