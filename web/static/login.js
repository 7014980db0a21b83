// The log-in page: a badge scanner set to end its codes with Tab (not Enter) logs in too — a
// Tab after a badge submits the form instead of moving the focus to the button. A Tab in an
// empty field moves on as usual.
(function () {
  "use strict";
  const badge = document.getElementById("badge");
  if (!badge) return;
  badge.addEventListener("keydown", (ev) => {
    if (ev.key !== "Tab" || ev.shiftKey || !badge.value.trim()) return;
    ev.preventDefault();
    const form = badge.form;
    if (form.requestSubmit) form.requestSubmit();
    else form.submit();
  });
})();
