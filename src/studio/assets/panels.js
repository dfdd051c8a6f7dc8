// What the page shows beside the canvas: the side panel (the flow's fields, profiles, run form,
// history and test cases; or the selected node's form, generated from its kind's schema and
// annotations, with its last run and test cases; or the selected nodes; or the selected
// edge), and the diagnostics under the canvas, marked on the form fields they name.

import { api, flowUrl } from './api.js';
import { $, label } from './dom.js';
import { escapePointer, relativeFile, resolve } from './kinds.js';
import { Form, assignKey } from './form.js';
import { mappingSection } from './mapping.js';
import { historySection } from './history.js';

// A field's line of the generated reference: its type, what its strings are, its default.
function referenceLine(field) {
  const el = document.createElement('div');
  el.className = 'ref';
  const holds = field.holds ? `, ${field.holds}` : '';
  const fallback = field.default !== undefined ? ` · default ${JSON.stringify(field.default)}` : '';
  el.textContent = `${field.type}${holds}${fallback}`;
  return el;
}

export class Panel {
  #doc;
  #kinds;
  #runs;
  #form;
  #tests = {}; // `${file}#${node or ''}` → the last test report

  #open;
  #settings;

  // `open(file)`: opens another flow of the folder. `settings`: the server's.
  constructor({ doc, kinds, runs, open, settings }) {
    this.#doc = doc;
    this.#settings = settings;
    this.#kinds = kinds;
    this.#runs = runs;
    this.#open = open;
    this.#form = new Form(doc);
  }

  render() {
    const doc = this.#doc;
    const form = this.#form;
    const panel = $('panel');
    panel.replaceChildren();
    if (!doc.flow) return;
    const h = document.createElement('h2');
    const sel = doc.selected;
    if (sel?.node && doc.node(sel.node)) {
      const node = doc.node(sel.node);
      const i = doc.nodeIndex(node.id);
      const reference = Object.keys(node);
      const kind = this.#kinds.get(node.type);
      h.textContent = `${kind?.glyph || ''} ${node.type}`;
      panel.append(h);
      if (kind) {
        const d = document.createElement('div');
        d.className = 'help';
        d.textContent = kind.description;
        panel.append(d);
      }
      // After a run, what the node did comes first: that is what a click on it is for.
      const ran = this.#runs.nodeOf(node.id);
      if (ran) panel.append(this.#runs.nodeSection(node.id, ran));
      panel.append(label('id'));
      panel.append(form.input('text', node.id, `/nodes/${i}/id`, (v) => doc.rename(node, v)));
      panel.append(label('title', 'A label for the drawing'));
      panel.append(form.input('text', node.title, `/nodes/${i}/title`, (v) => doc.edit(() => {
        assignKey(node, 'title', v === '' ? undefined : v, reference);
      })));
      if (doc.flow.start !== node.id) {
        const b = document.createElement('button');
        b.textContent = 'Make it the start';
        b.onclick = () => doc.commit((flow) => { flow.start = node.id; });
        panel.append(document.createElement('br'), b);
      }
      const schema = kind?.schema;
      for (const [key, sub] of Object.entries(schema?.properties || {})) {
        const s = resolve(sub, schema);
        const required = (schema.required || []).includes(key);
        const title = label(required ? `${key} *` : key, s.description);
        const ref = kind.fields?.find((f) => f.name === key);
        if (ref) title.firstChild.after(referenceLine(ref));
        panel.append(title);
        panel.append(form.control(sub, schema, node[key], `/nodes/${i}/${escapePointer(key)}`, (v) => doc.edit(() => {
          assignKey(node, key, v, reference);
        })));
      }
      if (this.#kinds.about(node, 'status-exits')) panel.append(this.#statusExits(node));
      const mapping = this.#kinds.about(node, 'mapping');
      if (mapping) {
        panel.append(mappingSection({
          write: (written) => doc.commit(() => {
            for (const part of ['select', 'map', 'fields']) {
              assignKey(node, mapping[part], written[part], reference);
            }
          }),
          // What the document's expression (a plain `vars.…` path) read in the last run.
          lastSample: () => this.#runs.lastValue(node[mapping.source]),
        }));
      }
      for (const name of this.#kinds.flowsOf(node)) {
        const file = relativeFile(doc.file || '', name);
        const b = document.createElement('button');
        b.className = 'open-flow';
        b.textContent = `Open ${name}`;
        b.disabled = !file || doc.dirty;
        b.title = doc.dirty ? 'Save the flow first' : `Open the flow this node runs (${file})`;
        b.onclick = () => this.#open(file);
        panel.append(b, this.#runs.childSection(node.id, file));
      }
      if (doc.version) panel.append(this.#testsSection(node.id));
    } else if (sel?.nodes) {
      h.textContent = `${sel.nodes.length} nodes selected`;
      h.id = 'selection-count';
      panel.append(h, label(sel.nodes.join(', '), 'Drag one to move them all; Delete removes them; Ctrl+C copies them with the edges between them, Ctrl+D duplicates them; Shift+click adds or takes out one.'));
    } else if (sel?.edge !== undefined && doc.edges()[sel.edge]) {
      const e = doc.edges()[sel.edge];
      h.textContent = 'Edge';
      panel.append(h, label(`${e.from} —${e.exit || 'ok'}→ ${e.to}`, 'Delete removes it; drag from the exit again to rewire it.'));
    } else {
      h.textContent = `Flow ${doc.file || ''}`;
      panel.append(h);
      const reference = Object.keys(doc.flow);
      for (const key of ['name', 'description']) {
        panel.append(label(key));
        panel.append(form.input(key === 'description' ? 'textarea' : 'text', doc.flow[key], `/${key}`, (v) => doc.edit((flow) => {
          assignKey(flow, key, v === '' ? undefined : v, reference);
        })));
      }
      panel.append(label('start', 'The node a run begins with'));
      const start = document.createElement('select');
      start.dataset.pointer = '/start';
      for (const n of doc.nodes()) {
        const o = document.createElement('option');
        o.value = o.textContent = n.id;
        start.append(o);
      }
      start.value = doc.flow.start ?? '';
      start.onchange = () => doc.commit((flow) => { flow.start = start.value; });
      panel.append(start);
      for (const key of ['parameters', 'variables']) {
        panel.append(label(key, 'JSON'));
        panel.append(form.json(doc.flow[key], `/${key}`, (v) => doc.edit((flow) => {
          assignKey(flow, key, v, reference);
        })));
      }
      if (doc.version) {
        panel.append(label('profiles', 'The authorization profiles the saved flow uses, and whether they resolve'));
        panel.append(this.#runs.profilesBox());
        panel.append(this.#runs.formSection());
        panel.append(historySection(doc, this.#runs, this.#settings));
        panel.append(this.#testsSection(null));
      }
    }
    this.markFields();
  }

  // The diagnostics under the canvas (a click on one selects its node), marked on the form.
  showDiagnostics() {
    const diagnostics = this.#doc.diagnostics;
    const footer = $('diagnostics');
    footer.replaceChildren();
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    const head = document.createElement('strong');
    head.id = 'validity';
    head.textContent = errors ? `${errors} error${errors === 1 ? '' : 's'}` : 'valid';
    footer.append(head);
    for (const d of diagnostics) {
      const line = document.createElement('div');
      line.className = d.severity;
      line.textContent = `${d.severity}${d.node ? ` in ${d.node}` : ''}${d.pointer ? ` [${d.pointer}]` : ''}: ${d.message}`;
      if (d.node) line.onclick = () => this.#doc.select({ node: d.node });
      footer.append(line);
    }
  }

  // Marks the form fields the diagnostics name (the closest field above the pointer).
  markFields() {
    const panel = $('panel');
    for (const el of panel.querySelectorAll('.bad')) el.classList.remove('bad');
    for (const el of panel.querySelectorAll('.message')) el.remove();
    const fields = [...panel.querySelectorAll('[data-pointer]')];
    for (const d of this.#doc.diagnostics) {
      let best = null;
      for (const el of fields) {
        const p = el.dataset.pointer;
        if ((d.pointer === p || d.pointer.startsWith(`${p}/`)) && (!best || p.length > best.dataset.pointer.length)) best = el;
      }
      if (!best) continue;
      best.classList.add('bad');
      const message = document.createElement('div');
      message.className = 'message';
      message.textContent = d.message;
      best.after(message);
    }
  }

  // A kind with status exits takes one ("404", "4xx") when the flow wires it: this adds its
  // port, to be dragged to a node like any other exit (it is kept in the file by its edge).
  #statusExits(node) {
    const box = document.createElement('div');
    box.append(label('status exits', 'Add an exit for an HTTP status (404) or class (4xx), then drag it to a node; unwired status codes ≥ 300 take `error`.'));
    const row = document.createElement('div');
    row.className = 'row';
    const code = document.createElement('input');
    code.type = 'text';
    code.id = 'status-exit-code';
    code.placeholder = '404 or 4xx';
    const add = document.createElement('button');
    add.id = 'status-exit-add';
    add.textContent = '+ exit';
    const message = document.createElement('div');
    message.className = 'message';
    add.onclick = () => {
      const exit = code.value.trim().toLowerCase();
      if (!/^[1-5](\d\d|xx)$/.test(exit)) {
        message.textContent = 'a status (100–599) or a class (1xx–5xx)';
        return;
      }
      code.value = '';
      message.textContent = `exit ${exit} added: drag it from the node to where it goes`;
      this.#doc.addExit(node.id, exit);
    };
    row.append(code, add);
    box.append(row, message);
    return box;
  }

  // The flow's test cases (`*.test.json` files of the directory), or those of `node`, and a
  // button that runs them.
  #testsSection(node) {
    const file = this.#doc.file;
    const box = document.createElement('section');
    box.id = node ? 'node-tests' : 'flow-tests';
    const h = document.createElement('h2');
    h.textContent = node ? 'Test cases of this node' : 'Test cases';
    const button = document.createElement('button');
    button.id = node ? 'node-tests-run' : 'flow-tests-run';
    button.textContent = node ? '▶ Run its cases' : '▶ Run all cases';
    const results = document.createElement('div');
    results.id = 'tests-results';
    const key = `${file}#${node || ''}`;
    button.onclick = async () => {
      results.textContent = 'running…';
      const { status: code, data } = await api('POST', flowUrl(this.#doc.file, 'tests'), node ? { node } : {});
      this.#tests[key] = code === 200 ? data : { error: data.error || String(code) };
      showTests(results, this.#tests[key]);
      results.scrollIntoView({ block: 'nearest' });
    };
    box.append(h, button, results);
    if (this.#tests[key]) showTests(results, this.#tests[key]);
    return box;
  }
}

function showTests(box, report) {
  box.replaceChildren();
  if (report.error) { box.textContent = report.error; return; }
  const total = document.createElement('div');
  total.className = 'tests-total';
  total.textContent = `${report.passed} passed, ${report.failed} failed`;
  box.append(total);
  if (!report.files.length) total.textContent = 'No *.test.json file in the directory tests this flow.';
  for (const f of report.files) {
    const head = document.createElement('div');
    head.className = 'help';
    head.textContent = f.file;
    box.append(head);
    if (f.error) {
      box.append(Object.assign(document.createElement('div'), { className: 'unresolved', textContent: f.error }));
      continue;
    }
    for (const c of f.cases) {
      const line = document.createElement('div');
      line.className = `case ${c.passed ? 'resolves' : 'unresolved'}`;
      line.textContent = `${c.passed ? '✓' : '✗'} ${c.name}`;
      box.append(line);
      if (!c.passed) box.append(Object.assign(document.createElement('pre'), { className: 'diff', textContent: c.failures.join('\n') }));
    }
  }
}
