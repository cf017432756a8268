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
      var warn = form.elements.warnings.checked, n = 0;
      cards.forEach(function (c) {
        var d = c.dataset;
        var ok = (!q || d.search.indexOf(q) !== -1) && (!profile || d.profile === profile) &&
                 (!media || d.media === media) && (!status || d.status === status) && (!warn || d.warnings !== "0");
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
  document.querySelectorAll(".compare").forEach(function (fig) {
    var range = fig.querySelector("input[type=range]"), frame = fig.querySelector(".compare-frame");
    var set = function () { frame.style.setProperty("--pos", range.value + "%"); };
    range.addEventListener("input", set);
    set();
  });
}());
