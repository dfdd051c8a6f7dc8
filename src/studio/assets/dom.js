// Small helpers for the page: elements by id, form labels, blocks of text, the status line.

export const $ = (id) => document.getElementById(id);

// The status line in the header (red when `isError`); hides the "Reopen from disk" button,
// which only the message of a save conflict offers.
export function status(text, isError = false) {
  const el = $('status');
  el.textContent = text;
  el.className = isError ? 'error' : '';
  $('reopen').hidden = true;
}

// A new element `tag` with the properties `props` (`id`, `className`, `textContent`, …).
export const el = (tag, props = {}) => Object.assign(document.createElement(tag), props);

// A field's label, with its help text under it when there is one.
export function label(text, help) {
  const frag = document.createDocumentFragment();
  const l = document.createElement('label');
  l.textContent = text;
  frag.append(l);
  if (help) {
    const h = document.createElement('div');
    h.className = 'help';
    h.textContent = help;
    frag.append(h);
  }
  return frag;
}

// A block of preformatted text with the id `id`.
export function pre(id, text) {
  const el = document.createElement('pre');
  el.id = id;
  el.textContent = text;
  return el;
}

// `fn`, called at most once per frame however often the result is called.
export function oncePerFrame(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fn();
    });
  };
}
