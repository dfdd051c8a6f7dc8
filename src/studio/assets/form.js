// Form controls generated from a JSON Schema: a text field, a number, a checkbox, a choice, a
// fieldset per object, rows for maps and lists, JSON text for anything else. Every control
// carries the JSON pointer of its value (`data-pointer`), for the diagnostics to mark it.

import { label } from './dom.js';
import { emptyValue, escapePointer, resolve } from './kinds.js';

// Sets (or, with `undefined`, removes) `obj[key]` in place; a key that comes back goes where
// it was in `reference` (the key order when the form was drawn), so the file's order is kept.
export function assignKey(obj, key, value, reference) {
  if (value === undefined) { delete obj[key]; return; }
  if (key in obj || !reference.includes(key)) { obj[key] = value; return; }
  const entries = Object.entries(obj);
  const rank = reference.indexOf(key);
  let at = 0;
  entries.forEach(([k], i) => {
    const r = reference.indexOf(k);
    if (r >= 0 && r < rank) at = i + 1;
  });
  entries.splice(at, 0, [key, value]);
  for (const k of Object.keys(obj)) delete obj[k];
  Object.assign(obj, Object.fromEntries(entries));
}

export class Form {
  #doc;

  // `doc`: whose `isCode(pointer)` says which strings are code (a larger field), and whose
  // `newStep()` is called when a field is entered (its edits are one undo step).
  constructor(doc) {
    this.#doc = doc;
  }

  input(type, value, pointer, onValue) {
    let el;
    if (type === 'textarea') {
      el = document.createElement('textarea');
      el.value = value ?? '';
    } else {
      el = document.createElement('input');
      el.type = type;
      if (type === 'checkbox') el.checked = !!value;
      else el.value = value ?? '';
    }
    el.dataset.pointer = pointer;
    el.spellcheck = false;
    el.addEventListener('focus', () => this.#doc.newStep());
    el.addEventListener(type === 'checkbox' ? 'change' : 'input', () => {
      if (type === 'checkbox') this.#doc.newStep();
      onValue(type === 'checkbox' ? el.checked : el.value, el);
    });
    return el;
  }

  // A form control for `value` (schema `schema`), reporting changes with `set(newValue)`;
  // `set(undefined)` removes the field.
  control(schema, root, value, pointer, set) {
    const s = resolve(schema, root);
    const box = document.createElement('div');
    const enumValues = s.enum || ((s.oneOf || s.anyOf)?.every((o) => o.const !== undefined) ? (s.oneOf || s.anyOf).map((o) => o.const) : null);
    if (enumValues) {
      const select = document.createElement('select');
      select.dataset.pointer = pointer;
      for (const option of ['', ...enumValues]) {
        const o = document.createElement('option');
        o.value = option;
        o.textContent = option === '' ? '—' : option;
        select.append(o);
      }
      select.value = value ?? '';
      select.addEventListener('change', () => { this.#doc.newStep(); set(select.value === '' ? undefined : select.value); });
      box.append(select);
    } else if (s.type === 'string') {
      const long = this.#doc.isCode(pointer) || /expression|template|rhai/i.test(s.description || '');
      box.append(this.input(long ? 'textarea' : 'text', value, pointer, (v) => set(v === '' ? undefined : v)));
    } else if (s.type === 'integer' || s.type === 'number') {
      box.append(this.input('number', value, pointer, (v) => set(v === '' ? undefined : Number(v))));
    } else if (s.type === 'boolean') {
      box.append(this.input('checkbox', value, pointer, (v) => set(v)));
    } else if (s.type === 'object' && s.properties) {
      const fs = document.createElement('fieldset');
      fs.dataset.pointer = pointer;
      const obj = value && typeof value === 'object' && !Array.isArray(value) ? value : {};
      const reference = Object.keys(obj);
      for (const [key, sub] of Object.entries(s.properties)) {
        const subSchema = resolve(sub, root);
        fs.append(label(key, subSchema.description));
        fs.append(this.control(sub, root, obj[key], `${pointer}/${key}`, (v) => {
          const next = { ...(value && typeof value === 'object' ? value : {}) };
          assignKey(next, key, v, reference);
          value = next;
          set(Object.keys(next).length ? next : undefined);
        }));
      }
      box.append(fs);
    } else if (s.type === 'object') {
      box.append(this.#keyValue(s, root, value, pointer, set));
    } else if (s.type === 'array') {
      box.append(this.#list(s, root, value, pointer, set));
    } else {
      box.append(this.json(value, pointer, set));
    }
    return box;
  }

  // Any value, as JSON text; `set` is called only with text that parses.
  json(value, pointer, set) {
    return this.input('textarea', value === undefined ? '' : JSON.stringify(value), pointer, (v, el) => {
      if (v.trim() === '') { el.setCustomValidity(''); set(undefined); return; }
      try {
        const parsed = JSON.parse(v);
        el.setCustomValidity('');
        set(parsed);
      } catch {
        el.setCustomValidity('not JSON');
      }
    });
  }

  #keyValue(s, root, value, pointer, set) {
    const fs = document.createElement('fieldset');
    fs.dataset.pointer = pointer;
    const entries = Object.entries(value && typeof value === 'object' ? value : {});
    const valueSchema = typeof s.additionalProperties === 'object' ? s.additionalProperties : {};
    const emit = () => set(entries.length ? Object.fromEntries(entries) : undefined);
    const draw = () => {
      fs.replaceChildren();
      entries.forEach((entry, i) => {
        const row = document.createElement('div');
        row.className = 'row';
        const key = this.input('text', entry[0], `${pointer}/${escapePointer(entry[0])}#key`, (k) => { entry[0] = k; emit(); });
        key.placeholder = 'key';
        const val = this.control(valueSchema, root, entry[1], `${pointer}/${escapePointer(entry[0])}`, (v) => { entry[1] = v ?? ''; emit(); });
        const remove = document.createElement('button');
        remove.textContent = '×';
        remove.title = 'Remove';
        remove.onclick = () => { this.#doc.newStep(); entries.splice(i, 1); emit(); draw(); };
        row.append(key, val, remove);
        fs.append(row);
      });
      const add = document.createElement('button');
      add.textContent = '+ entry';
      add.onclick = () => {
        let k = 'key';
        for (let n = 2; entries.some((e) => e[0] === k); n++) k = `key${n}`;
        this.#doc.newStep();
        entries.push([k, emptyValue(valueSchema, root)]);
        emit();
        draw();
      };
      fs.append(add);
    };
    draw();
    return fs;
  }

  #list(s, root, value, pointer, set) {
    const fs = document.createElement('fieldset');
    fs.dataset.pointer = pointer;
    const items = Array.isArray(value) ? [...value] : [];
    const itemSchema = s.items || {};
    const emit = () => set(items.length ? [...items] : undefined);
    const draw = () => {
      fs.replaceChildren();
      items.forEach((item, i) => {
        const row = document.createElement('div');
        row.className = 'row';
        const c = this.control(itemSchema, root, item, `${pointer}/${i}`, (v) => { items[i] = v; emit(); });
        const remove = document.createElement('button');
        remove.textContent = '×';
        remove.title = 'Remove';
        remove.onclick = () => { this.#doc.newStep(); items.splice(i, 1); emit(); draw(); };
        row.append(c, remove);
        fs.append(row);
      });
      const add = document.createElement('button');
      add.textContent = '+ item';
      add.onclick = () => { this.#doc.newStep(); items.push(emptyValue(itemSchema, root)); emit(); draw(); };
      fs.append(add);
    };
    draw();
    return fs;
  }
}
