// The task page's keyboard shortcuts (issue 17.3), listed on the page in #shortcuts: each item
// names its key (data-key) and what it does: follow a link (data-follow), open a <details>
// (data-open), choose a value in a list (data-choose, data-value), then put the cursor in a
// field (data-focus). Nothing fires while the officer types in a field (Esc leaves the
// field); Ctrl+Enter in the decision's note sends it with "Save and next".
(function () {
  "use strict";
  function typing(target) {
    return Boolean(target && target.closest && target.closest("input, textarea, select, [contenteditable]"));
  }
  function byId(id) {
    return id ? document.getElementById(id) : null;
  }
  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.closest && target.closest("#resolve-form")) {
      var next = byId("resolve-next");
      if (next) { event.preventDefault(); next.click(); }
      return;
    }
    if (typing(target)) {
      if (event.key === "Escape") { target.blur(); }
      return;
    }
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || !/^[a-z]$/.test(event.key)) {
      return;
    }
    var item = document.querySelector('#shortcuts [data-key="' + event.key + '"]');
    if (!item) {
      return;
    }
    event.preventDefault();
    var action = item.dataset;
    var link = byId(action.follow);
    if (link) { link.click(); return; }
    var details = byId(action.open);
    if (details) { details.open = true; }
    var list = byId(action.choose);
    if (list) {
      list.value = action.value;
      list.dispatchEvent(new Event("change", { bubbles: true }));
    }
    var field = byId(action.focus);
    if (field) {
      field.focus();
      field.scrollIntoView({ block: "center" });
    }
  });
}());
