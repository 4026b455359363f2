(function () {
  "use strict";
  var input = document.getElementById("filter");
  var rows = document.querySelectorAll("[data-ns]");
  var shown = document.getElementById("shown");
  input.addEventListener("input", function () {
    var q = input.value.trim().toLowerCase();
    var n = 0;
    rows.forEach(function (el) {
      var hit = q === "" || el.getAttribute("data-ns").toLowerCase().indexOf(q) >= 0;
      el.hidden = !hit;
      if (hit && el.tagName === "SECTION") { n++; }
    });
    shown.textContent = q === "" ? "" : n + " shown";
  });
})();
