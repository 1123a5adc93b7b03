// Small helpers to build pages from DOM nodes (never from HTML strings: the page's
// Content-Security-Policy enforces Trusted Types, so innerHTML would throw).

let uniqueId = 0;

// h("button", {class: "primary", onclick: go}, "Text", child, ...): an element. Attributes
// named on<event> become listeners; false/null/undefined attributes and children are left out.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) {
      continue;
    }
    if (name.startsWith("on")) {
      element.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      element.className = value;
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  return fill(element, ...children);
}

// Appends the children to element, arrays flattened, null/undefined/false left out.
export function fill(element, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) {
      element.append(child instanceof Node ? child : String(child));
    }
  }
  return element;
}

// A labelled form control with an optional hint and a place for its error message, both tied
// to the control with aria-describedby. Returns {row, control, showError(text)}.
export function field({ label, hint, tag = "input", ...attributes }) {
  const id = `field-${++uniqueId}`;
  const hintElement = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  const errorElement = h("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const control = h(tag, { id, name: attributes.name, ...attributes });
  const describedBy = [hintElement ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", describedBy);
  const row = h("div", { class: "field" }, h("label", { for: id }, label), hintElement, control, errorElement);
  function showError(text) {
    errorElement.textContent = text || "";
    errorElement.hidden = !text;
    if (text) {
      control.setAttribute("aria-invalid", "true");
    } else {
      control.removeAttribute("aria-invalid");
    }
  }
  return { row, control, showError };
}

// A message box: kind is "info", "success", "warning" or "error". Errors are announced at once.
export function notice(kind, ...children) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}

export function paragraphs(text) {
  return text.split(/\n\s*\n/).map((part) => h("p", {}, part.trim()));
}
