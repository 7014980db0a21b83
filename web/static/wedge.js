// Keyboard-wedge scanners: many are set to end a code with Tab instead of Enter. In a field
// marked data-scan (the log-in badge, the handheld's and the pack station's scan), a Tab after
// a code submits the field's form and the focus stays for the next code; a Tab in an empty
// field moves on as usual.
(function () {
  "use strict";
  document.addEventListener("keydown", (ev) => {
    const field = ev.target;
    if (ev.key !== "Tab" || ev.shiftKey || !(field instanceof HTMLInputElement)) return;
    if (!field.hasAttribute("data-scan") || !field.value.trim() || !field.form) return;
    ev.preventDefault();
    const form = field.form;
    if (form.requestSubmit) form.requestSubmit();
    else if (form.dispatchEvent(new Event("submit", { cancelable: true }))) form.submit();
  });
})();
