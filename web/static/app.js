// Gatehouse pages work without this script; it only adds copy buttons.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (!navigator.clipboard) return;
  document.querySelectorAll("button[data-copy]").forEach(function (b) {
    var label = b.textContent;
    b.hidden = false;
    b.addEventListener("click", function () {
      var el = document.getElementById(b.dataset.copy);
      if (!el) return;
      var text = el.tagName === "UL"
        ? Array.from(el.querySelectorAll("li")).map(function (li) { return li.textContent.trim(); }).join("\n")
        : el.textContent.trim();
      navigator.clipboard.writeText(text).then(function () {
        b.textContent = "Copied";
        setTimeout(function () { b.textContent = label; }, 2000);
      });
    });
  });
});
