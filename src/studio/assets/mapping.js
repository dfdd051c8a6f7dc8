// Building a JSON mapping from a sample document, as WEM's modeler and Logic Apps' Parse JSON
// do: paste a sample (or take the one the last run read), pick the list to import, tick the
// fields to keep — renaming them, choosing their types — and the node's `select`, `map` and
// `fields` are written. Which fields those are the kind says (`x-weft-mapping`); nothing here
// names a kind.

import { el, label } from './dom.js';
import { escapePointer, tokensOf } from './kinds.js';

const TYPES = ['string', 'number', 'integer', 'boolean', 'datetime', 'object', 'array'];
const INSTANT = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
// Graph's `{ dateTime, timeZone }`: one instant, not two fields.
const isZoned = (v) => isObject(v) && typeof v.dateTime === 'string' && 'timeZone' in v;

// The JSON pointers of the lists of objects in `doc` (the document itself first when it is
// one), breadth first, at most `limit`.
function listsIn(doc, limit = 20) {
  const found = [];
  const queue = [['', doc]];
  while (queue.length && found.length < limit) {
    const [pointer, value] = queue.shift();
    if (Array.isArray(value)) {
      if (value.some(isObject)) found.push(pointer);
    } else if (isObject(value)) {
      for (const [k, v] of Object.entries(value)) queue.push([`${pointer}/${escapePointer(k)}`, v]);
    }
  }
  return found;
}

// The value at `pointer` in `doc`.
function at(doc, pointer) {
  return tokensOf(pointer).reduce((v, key) => (v == null ? undefined : v[key]), doc);
}

function typeOf(v) {
  if (isZoned(v)) return 'datetime';
  if (typeof v === 'string') return INSTANT.test(v) ? 'datetime' : 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'boolean') return 'boolean';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

// The leaves of the items: `{ path: [keys], type, optional }` in first-seen order. A nested
// object is followed (a `{ dateTime, timeZone }` is one leaf); a value missing or null in some
// item makes its field optional; integers and other numbers together make a number.
function leavesOf(items) {
  const leaves = new Map();
  const seen = (path, v) => {
    const key = JSON.stringify(path);
    const leaf = leaves.get(key) || { path, type: null, count: 0, nulls: 0 };
    if (v === null || v === undefined) leaf.nulls += 1;
    else {
      const t = typeOf(v);
      leaf.type = leaf.type === null || leaf.type === t ? t
        : (leaf.type === 'integer' && t === 'number') || (leaf.type === 'number' && t === 'integer') ? 'number'
          : 'string';
      leaf.count += 1;
    }
    leaves.set(key, leaf);
  };
  const walk = (path, v) => {
    if (isObject(v) && !isZoned(v)) {
      for (const [k, child] of Object.entries(v)) walk([...path, k], child);
    } else seen(path, v);
  };
  const objects = items.filter(isObject);
  for (const item of objects) walk([], item);
  return [...leaves.values()].map((l) => ({
    path: l.path,
    type: l.type || 'string',
    optional: l.nulls > 0 || l.count < objects.length,
  }));
}

const snake = (s) => s.replace(/[^A-Za-z0-9]+/g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replace(/^_+|_+$/g, '') || 'field';

// A name for each leaf: its last key in snake case, or its whole path where two would collide.
function namesFor(leaves) {
  const short = leaves.map((l) => snake(l.path[l.path.length - 1]));
  return leaves.map((l, i) => {
    const name = short.filter((s) => s === short[i]).length > 1 ? snake(l.path.join('_')) : short[i];
    return /^[0-9]/.test(name) ? `f_${name}` : name;
  });
}

// The expression that reads `path` of `item`, `?.` after the first key (a missing object gives
// `()`, not an error).
function access(path) {
  return path.reduce((expr, key, i) => {
    if (IDENT.test(key)) return `${expr}${i === 0 ? '.' : '?.'}${key}`;
    return `${expr}${i === 0 ? '' : '?'}[${JSON.stringify(key)}]`;
  }, 'item');
}

// `select`, `map` and `fields` for the chosen rows: `{ name, path, type, optional }`.
function mappingOf(pointer, rows) {
  const map = `#{ ${rows.map((r) => `${r.name}: ${access(r.path)}`).join(', ')} }`;
  const fields = Object.fromEntries(rows.map((r) => [r.name, `${r.type}${r.optional ? '?' : ''}`]));
  return { select: pointer === '' ? undefined : pointer, map, fields };
}

// The panel section: a sample, its lists, its fields, and the button that writes the mapping
// into `node` through `write({ select, map, fields })`. `lastSample()` gives the document the
// last run read, when there is one.
export function mappingSection({ write, lastSample }) {
  const box = el('section', { id: 'mapping' });
  box.append(el('h2', { textContent: 'Mapping from a sample' }), label('sample', 'Paste an example document (a response body), or take the one the last run read; then tick the fields to keep.'));
  const text = el('textarea', { id: 'mapping-sample', rows: 6 });
  const fromRun = el('button', { id: 'mapping-from-run', textContent: 'Take the last run’s', disabled: lastSample() === undefined });
  const lists = el('select', { id: 'mapping-list' });
  const table = el('table', { id: 'mapping-fields' });
  const apply = el('button', { id: 'mapping-apply', textContent: 'Write the mapping' });
  const message = el('div', { id: 'mapping-message', className: 'help' });
  let doc;
  let rows = [];

  const showFields = () => {
    table.replaceChildren();
    const items = at(doc, lists.value);
    const leaves = Array.isArray(items) ? leavesOf(items) : [];
    const names = namesFor(leaves);
    rows = leaves.map((leaf, i) => ({ ...leaf, name: names[i], keep: true }));
    const head = el('tr');
    head.append(...['', 'field', 'name', 'type', '?'].map((t) => el('th', { textContent: t })));
    table.append(head);
    rows.forEach((row) => {
      const tr = el('tr');
      tr.dataset.path = row.path.join('.');
      const keep = el('input', { type: 'checkbox', checked: row.keep, className: 'mapping-keep' });
      keep.onchange = () => { row.keep = keep.checked; };
      const path = el('code', { textContent: row.path.join('.') });
      const name = el('input', { type: 'text', value: row.name, className: 'mapping-name' });
      name.oninput = () => { row.name = name.value.trim(); };
      const type = el('select', { className: 'mapping-type' });
      type.append(...TYPES.map((t) => el('option', { value: t, textContent: t })));
      type.value = row.type;
      type.onchange = () => { row.type = type.value; };
      const optional = el('input', { type: 'checkbox', className: 'mapping-optional', checked: row.optional });
      optional.onchange = () => { row.optional = optional.checked; };
      for (const control of [keep, path, name, type, optional]) {
        const td = el('td');
        td.append(control);
        tr.append(td);
      }
      table.append(tr);
    });
    message.textContent = rows.length ? `${items.length} items in the sample` : 'no fields in that list';
  };

  const read = () => {
    lists.replaceChildren();
    table.replaceChildren();
    try {
      doc = JSON.parse(text.value);
    } catch (err) {
      message.textContent = text.value.trim() ? `not JSON: ${err.message}` : '';
      return;
    }
    const found = listsIn(doc);
    if (!found.length) {
      message.textContent = 'no list of objects in the sample';
      return;
    }
    for (const pointer of found) {
      lists.append(el('option', { value: pointer, textContent: pointer === '' ? '(the document)' : pointer }));
    }
    showFields();
  };

  text.oninput = read;
  lists.onchange = showFields;
  fromRun.onclick = () => {
    text.value = JSON.stringify(lastSample(), null, 2);
    read();
  };
  apply.onclick = () => {
    const kept = rows.filter((r) => r.keep);
    const bad = kept.find((r) => !IDENT.test(r.name));
    const twice = kept.find((r, i) => kept.findIndex((o) => o.name === r.name) !== i);
    if (!kept.length) message.textContent = 'tick at least one field';
    else if (bad) message.textContent = `\`${bad.name}\` is not a name: letters, digits and _`;
    else if (twice) message.textContent = `two fields are named \`${twice.name}\``;
    // Written, the panel is drawn anew (this section too): nothing to say here.
    else write(mappingOf(lists.value, kept));
  };
  box.append(text, fromRun, label('list', 'The list to import'), lists, table, apply, message);
  return box;
}
