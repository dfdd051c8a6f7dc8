// Weft Studio: the flow modeler. Plain ES module, SVG canvas, no build step.
// The server checks and stores; this page draws, edits and asks the server to validate.

const W = 170;
const H = 52;
const SVG_NS = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
const state = {
  kinds: new Map(),
  file: null,
  version: null,
  doc: null,
  exits: {},
  layout: {},
  diagnostics: [],
  undo: [],
  redo: [],
  selected: null, // { node: id } or { edge: index }
  view: { x: 0, y: 0, k: 1 },
  dirty: false,
  settings: { profiles: null, params: {}, sim: null, max_steps: 10000 },
  profilesFile: null,
  extraExits: {}, // node id → status exits added in the panel, not wired yet
  run: null, // the last run: { id, file, status, nodes: { id: { state, exit, ms, error, writes, http, count, taken } }, report }
  runParams: {}, // file → { parameter: text in the form }
  runLimits: { max_steps: '', timeout_secs: '' },
  tests: {}, // `${file}#${node or ''}` → the last test report
};

// ---- server -----------------------------------------------------------------------------

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = JSON.parse(text); } catch { data = { error: text }; }
  return { status: response.status, data };
}

function status(text, isError = false) {
  const el = $('status');
  el.textContent = text;
  el.className = isError ? 'error' : '';
  $('reopen').hidden = true;
}

// ---- the document -------------------------------------------------------------------------

const nodes = () => (Array.isArray(state.doc?.nodes) ? state.doc.nodes : []);
const edges = () => (Array.isArray(state.doc?.edges) ? state.doc.edges : []);
const nodeById = (id) => nodes().find((n) => n.id === id);
const nodeIndex = (id) => nodes().findIndex((n) => n.id === id);

function positionOf(node) {
  if (Array.isArray(node.position) && node.position.length === 2) return node.position;
  return state.layout[node.id] || [40, 40];
}

// What a node's kind says about itself: `x-weft-<key>` in its schema. Fields are named by
// patterns, JSON pointers into the node where `*` is any member or index, naming what is
// inside too (`/body`: every string of a JSON body).
const about = (node, key) => state.kinds.get(node?.type)?.schema?.[`x-weft-${key}`];
const tokensOf = (pointer) => pointer.split('/').slice(1).map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));

function stringsAt(value, pattern) {
  const out = [];
  const walk = (v, tokens) => {
    if (typeof v === 'string' && !tokens.length) out.push(v);
    if (!v || typeof v !== 'object') return;
    const [t, ...rest] = tokens;
    for (const [k, child] of Object.entries(v)) {
      if (!tokens.length) walk(child, tokens);
      else if (t === '*' || t === k) walk(child, rest);
    }
  };
  walk(value, tokensOf(pattern));
  return out;
}

// Whether the field at `pointer` (`/nodes/3/conditions/0/when`) is an expression or a template.
function isCode(pointer) {
  const m = /^\/nodes\/(\d+)(\/.*)$/.exec(pointer);
  const node = m && nodes()[Number(m[1])];
  if (!node) return false;
  const tokens = tokensOf(m[2]);
  const patterns = [...(about(node, 'expressions') || []), ...(about(node, 'templates') || [])];
  return patterns.some((p) => tokensOf(p).every((t, i) => i < tokens.length && (t === '*' || t === tokens[i])));
}

// The exits of a node the server has not built (yet): those its fields name, then its kind's.
function fallbackExits(node) {
  const named = (about(node, 'exit-fields') || []).flatMap((p) => stringsAt(node, p)).filter(Boolean);
  return [...named, ...(about(node, 'exits') || ['ok', 'error'])];
}

function exitsOf(node) {
  const known = state.exits[node.id];
  const list = known ? [...known] : fallbackExits(node);
  for (const e of edges()) {
    const exit = e.exit || 'ok';
    if (e.from === node.id && !list.includes(exit)) list.push(exit);
  }
  for (const exit of state.extraExits[node.id] || []) if (!list.includes(exit)) list.push(exit);
  return list;
}

function snapshot() {
  state.undo.push(JSON.stringify(state.doc));
  if (state.undo.length > 200) state.undo.shift();
  state.redo = [];
}

// Records an undo step, applies `change` to the document, redraws and revalidates.
function commit(change, { form = true } = {}) {
  snapshot();
  change(state.doc);
  changed({ form });
}

function changed({ form = true } = {}) {
  state.dirty = true;
  if (state.selected?.node && !nodeById(state.selected.node)) state.selected = null;
  if (state.selected?.edge !== undefined && !edges()[state.selected.edge]) state.selected = null;
  render();
  if (form) renderPanel();
  scheduleValidate();
}

function undo() {
  if (!state.undo.length) return;
  state.redo.push(JSON.stringify(state.doc));
  state.doc = JSON.parse(state.undo.pop());
  changed();
}

function redo() {
  if (!state.redo.length) return;
  state.undo.push(JSON.stringify(state.doc));
  state.doc = JSON.parse(state.redo.pop());
  changed();
}

// ---- validation ---------------------------------------------------------------------------

let validateTimer = null;
let validateSeq = 0;

function scheduleValidate() {
  clearTimeout(validateTimer);
  validateTimer = setTimeout(validate, 300);
}

async function validate() {
  const seq = ++validateSeq;
  const { status: code, data } = await api('POST', '/api/validate', state.doc);
  if (seq !== validateSeq) return;
  if (code !== 200) {
    status(data.error || `validation failed (${code})`, true);
    return;
  }
  applyAnalysis(data);
  render();
}

function applyAnalysis(data) {
  state.diagnostics = data.diagnostics || [];
  state.exits = data.exits || {};
  state.layout = data.layout || {};
  renderDiagnostics();
  markFields();
}

function diagnosticsOf(id) {
  return state.diagnostics.filter((d) => d.node === id);
}

function renderDiagnostics() {
  const footer = $('diagnostics');
  footer.replaceChildren();
  const errors = state.diagnostics.filter((d) => d.severity === 'error').length;
  const head = document.createElement('strong');
  head.id = 'validity';
  head.textContent = errors ? `${errors} error${errors === 1 ? '' : 's'}` : 'valid';
  footer.append(head);
  for (const d of state.diagnostics) {
    const line = document.createElement('div');
    line.className = d.severity;
    line.textContent = `${d.severity}${d.node ? ` in ${d.node}` : ''}${d.pointer ? ` [${d.pointer}]` : ''}: ${d.message}`;
    if (d.node) line.onclick = () => select({ node: d.node });
    footer.append(line);
  }
}

// Marks the form fields the diagnostics name (the closest field above the pointer).
function markFields() {
  const panel = $('panel');
  for (const el of panel.querySelectorAll('.bad')) el.classList.remove('bad');
  for (const el of panel.querySelectorAll('.message')) el.remove();
  const fields = [...panel.querySelectorAll('[data-pointer]')];
  for (const d of state.diagnostics) {
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

// ---- drawing ------------------------------------------------------------------------------

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function handlePoint(node, exit) {
  const [x, y] = positionOf(node);
  const list = exitsOf(node);
  const i = Math.max(0, list.indexOf(exit));
  return [x + ((i + 1) * W) / (list.length + 1), y + H];
}

function curve([x1, y1], [x2, y2]) {
  const bend = Math.max(40, Math.abs(y2 - y1) / 2);
  return `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`;
}

function render() {
  const v = state.view;
  $('viewport').setAttribute('transform', `translate(${v.x},${v.y}) scale(${v.k})`);
  const edgeLayer = $('edges');
  const nodeLayer = $('nodes');
  edgeLayer.replaceChildren();
  nodeLayer.replaceChildren();
  if (!state.doc) return;
  edges().forEach((e, index) => {
    const from = nodeById(e.from);
    const to = nodeById(e.to);
    if (!from || !to) return;
    const exit = e.exit || 'ok';
    const [tx, ty] = positionOf(to);
    const start = handlePoint(from, exit);
    const d = curve(start, [tx + W / 2, ty]);
    const selected = state.selected?.edge === index;
    const bad = state.diagnostics.some((d) => d.pointer === `/edges/${index}` || d.pointer.startsWith(`/edges/${index}/`));
    const taken = runOf(e.from)?.taken?.has(exit);
    const g = svg('g', { class: `edge${selected ? ' selected' : ''}${bad ? ' bad' : ''}${taken ? ' taken' : ''}`, 'data-from': e.from, 'data-exit': exit, 'data-to': e.to });
    g.append(svg('path', { d, 'marker-end': 'url(#arrow)' }), svg('path', { d, class: 'hit' }));
    g.append(svg('text', { x: (start[0] + tx + W / 2) / 2 + 4, y: (start[1] + ty) / 2 }, exit));
    g.addEventListener('pointerdown', (ev) => { ev.stopPropagation(); select({ edge: index }); });
    edgeLayer.append(g);
  });
  for (const node of nodes()) {
    if (typeof node.id !== 'string') continue;
    const [x, y] = positionOf(node);
    const diags = diagnosticsOf(node.id);
    const classes = ['node'];
    if (state.doc.start === node.id) classes.push('start');
    if (state.selected?.node === node.id) classes.push('selected');
    if (diags.some((d) => d.severity === 'error')) classes.push('bad');
    else if (diags.length) classes.push('warn');
    const ran = runOf(node.id);
    if (ran) classes.push(ran.state === 'running' ? 'run-running' : failedRun(ran) ? 'run-failed' : 'run-done');
    const g = svg('g', { class: classes.join(' '), 'data-id': node.id, transform: `translate(${x},${y})` });
    if (ran) {
      g.dataset.runState = ran.state;
      if (ran.state === 'done') g.dataset.runExit = ran.exit ?? 'end';
      g.append(svg('text', { x: 0, y: -6, class: 'run-info' }, runLine(ran)));
    }
    const kind = state.kinds.get(node.type);
    g.append(svg('rect', { width: W, height: H, rx: 8 }));
    g.append(svg('text', { x: 10, y: 32, class: 'glyph' }, kind?.glyph || '•'));
    const name = node.title || node.id;
    g.append(svg('text', { x: 36, y: 22, class: 'title' }, name.length > 19 ? `${name.slice(0, 18)}…` : name));
    g.append(svg('title', {}, `${name} (${node.type})`));
    g.append(svg('text', { x: 36, y: 40, class: 'kind' }, node.title ? `${node.id} · ${node.type}` : node.type));
    if (diags.length) {
      const title = svg('title', {}, diags.map((d) => d.message).join('\n'));
      g.append(svg('circle', { cx: W - 10, cy: 10, r: 7, class: 'badge' }), title);
      g.append(svg('text', { x: W - 13, y: 14, fill: '#fff', 'font-size': 10 }, String(diags.length)));
    }
    g.addEventListener('pointerdown', (ev) => startMove(ev, node.id));
    const list = exitsOf(node);
    list.forEach((exit, i) => {
      const hx = ((i + 1) * W) / (list.length + 1);
      const handle = svg('circle', { cx: hx, cy: H, r: 6, class: 'handle', 'data-exit': exit });
      handle.append(svg('title', {}, `exit ${exit}: drag to a node`));
      handle.addEventListener('pointerdown', (ev) => startConnect(ev, node.id, exit));
      const short = list.length > 2 && exit.length > 7 ? `${exit.slice(0, 6)}…` : exit;
      g.append(handle, svg('text', { x: hx + 7, y: H + 12, class: 'handle-label' }, short));
    });
    nodeLayer.append(g);
  }
  $('undo').disabled = !state.undo.length;
  $('redo').disabled = !state.redo.length;
  $('delete').disabled = !state.selected;
  $('save').disabled = !state.file;
  $('run').disabled = !state.file;
  $('stop').disabled = !(state.run && state.run.status === 'running');
}

let renderQueued = false;

// Redraws once per frame at most: a run's events may come faster than that.
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

// ---- pointer interactions -----------------------------------------------------------------

function toWorld(ev) {
  const rect = $('canvas').getBoundingClientRect();
  const v = state.view;
  return [(ev.clientX - rect.left - v.x) / v.k, (ev.clientY - rect.top - v.y) / v.k];
}

function track(ev, onMove, onUp) {
  const canvas = $('canvas');
  canvas.setPointerCapture?.(ev.pointerId);
  const move = (e) => onMove(e);
  const up = (e) => {
    canvas.removeEventListener('pointermove', move);
    canvas.removeEventListener('pointerup', up);
    onUp(e);
  };
  canvas.addEventListener('pointermove', move);
  canvas.addEventListener('pointerup', up);
}

function startMove(ev, id) {
  if (ev.button !== 0) return;
  ev.stopPropagation();
  select({ node: id });
  const node = nodeById(id);
  const before = JSON.stringify(state.doc);
  const [sx, sy] = toWorld(ev);
  const [ox, oy] = positionOf(node);
  let moved = false;
  track(ev, (e) => {
    const [wx, wy] = toWorld(e);
    const nx = Math.round(ox + wx - sx);
    const ny = Math.round(oy + wy - sy);
    if (!moved && Math.abs(nx - ox) < 2 && Math.abs(ny - oy) < 2) return;
    moved = true;
    node.position = [nx, ny];
    render();
  }, () => {
    if (!moved) return;
    state.undo.push(before);
    state.redo = [];
    changed({ form: false });
  });
}

function startConnect(ev, id, exit) {
  if (ev.button !== 0) return;
  ev.stopPropagation();
  const from = nodeById(id);
  const start = handlePoint(from, exit);
  const rubber = $('rubber');
  track(ev, (e) => {
    rubber.setAttribute('d', curve(start, toWorld(e)));
  }, (e) => {
    rubber.setAttribute('d', '');
    const [wx, wy] = toWorld(e);
    const target = nodes().find((n) => {
      const [x, y] = positionOf(n);
      return wx >= x && wx <= x + W && wy >= y && wy <= y + H;
    });
    if (!target) return;
    connect(id, exit, target.id);
  });
}

// Wires `exit` of `from` to `to`, replacing the exit's edge if it had one (one edge per exit).
function connect(from, exit, to) {
  commit((doc) => {
    if (!Array.isArray(doc.edges)) doc.edges = [];
    const edge = exit === 'ok' ? { from, to } : { from, exit, to };
    const at = doc.edges.findIndex((e) => e.from === from && (e.exit || 'ok') === exit);
    if (at >= 0) doc.edges[at] = edge;
    else doc.edges.push(edge);
  });
}

function startPan(ev) {
  if (ev.button !== 0) return;
  select(null);
  const { x, y } = state.view;
  const sx = ev.clientX;
  const sy = ev.clientY;
  $('canvas').classList.add('panning');
  track(ev, (e) => {
    state.view.x = x + e.clientX - sx;
    state.view.y = y + e.clientY - sy;
    render();
  }, () => $('canvas').classList.remove('panning'));
}

function zoom(ev) {
  ev.preventDefault();
  const rect = $('canvas').getBoundingClientRect();
  const v = state.view;
  const k = Math.min(3, Math.max(0.2, v.k * Math.exp(-ev.deltaY * 0.001)));
  const px = ev.clientX - rect.left;
  const py = ev.clientY - rect.top;
  v.x = px - ((px - v.x) * k) / v.k;
  v.y = py - ((py - v.y) * k) / v.k;
  v.k = k;
  render();
}

// Shows the whole drawing: scrolled to its corner, and scaled down when it is larger than the
// canvas (never up).
function fitView() {
  const rect = $('canvas').getBoundingClientRect();
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const n of nodes()) {
    const [x, y] = positionOf(n);
    minX = Math.min(minX, x);
    minY = Math.min(minY, y);
    maxX = Math.max(maxX, x + W);
    maxY = Math.max(maxY, y + H + 20);
  }
  if (minX === Infinity) {
    state.view = { x: 0, y: 0, k: 1 };
    return;
  }
  const margin = 40;
  const k = Math.min(1, (rect.width - 2 * margin) / (maxX - minX), (rect.height - 2 * margin) / (maxY - minY));
  state.view = { k: Math.max(0.2, k), x: margin - minX * Math.max(0.2, k), y: margin - minY * Math.max(0.2, k) };
}

function select(selection) {
  state.selected = selection;
  render();
  renderPanel();
}

function deleteSelected() {
  const sel = state.selected;
  if (!sel) return;
  if (sel.node) {
    const id = sel.node;
    commit((doc) => {
      doc.nodes = nodes().filter((n) => n.id !== id);
      doc.edges = edges().filter((e) => e.from !== id && e.to !== id);
      if (doc.start === id) {
        if (doc.nodes.length) doc.start = doc.nodes[0].id;
        else delete doc.start;
      }
    });
  } else if (sel.edge !== undefined) {
    const index = sel.edge;
    commit((doc) => { doc.edges.splice(index, 1); });
  }
  state.selected = null;
  render();
  renderPanel();
}

// ---- adding nodes -------------------------------------------------------------------------

function resolve(schema, root) {
  let s = schema || {};
  for (let i = 0; i < 8 && s.$ref; i++) {
    const name = s.$ref.replace(/^#\/(\$defs|definitions)\//, '');
    s = { ...(root.$defs?.[name] || root.definitions?.[name] || {}), ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$ref')) };
  }
  // Option<T>: `anyOf: [T, null]` or `type: [T, "null"]`.
  const options = s.anyOf || s.oneOf;
  if (options && !options.every((o) => o.const !== undefined)) {
    const nonNull = options.filter((o) => o.type !== 'null');
    if (nonNull.length === 1) s = { ...resolve(nonNull[0], root), description: s.description || nonNull[0].description };
  }
  if (Array.isArray(s.type)) {
    const types = s.type.filter((t) => t !== 'null');
    if (types.length === 1) s = { ...s, type: types[0] };
  }
  return s;
}

function emptyValue(schema, root) {
  const s = resolve(schema, root);
  if (s.default !== undefined) return s.default;
  if (s.enum) return s.enum[0];
  switch (s.type) {
    case 'string': return '';
    case 'integer': case 'number': return 0;
    case 'boolean': return false;
    case 'array': return [];
    case 'object': return {};
    default: return '';
  }
}

function addNode(kind) {
  const info = state.kinds.get(kind);
  let n = 1;
  while (nodeById(`${kind}_${n}`)) n++;
  const id = `${kind}_${n}`;
  const rect = $('canvas').getBoundingClientRect();
  const v = state.view;
  const x = Math.round((rect.width / 2 - v.x) / v.k - W / 2 + (n % 5) * 12);
  const y = Math.round((rect.height / 2 - v.y) / v.k - H / 2 + (n % 5) * 12);
  const node = { id, type: kind, position: [x, y] };
  for (const field of info?.schema?.required || []) node[field] = emptyValue(info.schema.properties?.[field], info.schema);
  commit((doc) => {
    if (!Array.isArray(doc.nodes)) doc.nodes = [];
    doc.nodes.push(node);
    if (!doc.start) doc.start = id;
  }, { form: false });
  select({ node: id });
}

// ---- the side panel: the flow's or the node's fields --------------------------------------

// Edits through the form: one undo step per field visit.
let pendingSnapshot = true;

function edit(change) {
  if (pendingSnapshot) {
    snapshot();
    pendingSnapshot = false;
  }
  change(state.doc);
  changed({ form: false });
}

function label(text, help) {
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

function input(type, value, pointer, onValue) {
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
  el.addEventListener('focus', () => { pendingSnapshot = true; });
  el.addEventListener(type === 'checkbox' ? 'change' : 'input', () => {
    pendingSnapshot = pendingSnapshot || type === 'checkbox';
    onValue(type === 'checkbox' ? el.checked : el.value, el);
  });
  return el;
}

// A form control for `value` (schema `schema`), reporting changes with `set(newValue)`;
// `set(undefined)` removes the field.
function control(schema, root, value, pointer, set) {
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
    select.addEventListener('change', () => { pendingSnapshot = true; set(select.value === '' ? undefined : select.value); });
    box.append(select);
  } else if (s.type === 'string') {
    const long = isCode(pointer) || /expression|template|rhai/i.test(s.description || '');
    box.append(input(long ? 'textarea' : 'text', value, pointer, (v) => set(v === '' ? undefined : v)));
  } else if (s.type === 'integer' || s.type === 'number') {
    box.append(input('number', value, pointer, (v) => set(v === '' ? undefined : Number(v))));
  } else if (s.type === 'boolean') {
    box.append(input('checkbox', value, pointer, (v) => set(v)));
  } else if (s.type === 'object' && s.properties) {
    const fs = document.createElement('fieldset');
    fs.dataset.pointer = pointer;
    const obj = value && typeof value === 'object' && !Array.isArray(value) ? value : {};
    const reference = Object.keys(obj);
    for (const [key, sub] of Object.entries(s.properties)) {
      const subSchema = resolve(sub, root);
      fs.append(label(key, subSchema.description));
      fs.append(control(sub, root, obj[key], `${pointer}/${key}`, (v) => {
        const next = { ...(value && typeof value === 'object' ? value : {}) };
        assignKey(next, key, v, reference);
        value = next;
        set(Object.keys(next).length ? next : undefined);
      }));
    }
    box.append(fs);
  } else if (s.type === 'object') {
    box.append(keyValue(s, root, value, pointer, set));
  } else if (s.type === 'array') {
    box.append(arrayControl(s, root, value, pointer, set));
  } else {
    box.append(jsonControl(value, pointer, set));
  }
  return box;
}

function jsonControl(value, pointer, set) {
  return input('textarea', value === undefined ? '' : JSON.stringify(value), pointer, (v, el) => {
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

// Sets (or, with `undefined`, removes) `obj[key]` in place; a key that comes back goes where
// it was in `reference` (the key order when the form was drawn), so the file's order is kept.
function assignKey(obj, key, value, reference) {
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

const escapePointer = (key) => key.replace(/~/g, '~0').replace(/\//g, '~1');

function keyValue(s, root, value, pointer, set) {
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
      const key = input('text', entry[0], `${pointer}/${escapePointer(entry[0])}#key`, (k) => { entry[0] = k; emit(); });
      key.placeholder = 'key';
      const val = control(valueSchema, root, entry[1], `${pointer}/${escapePointer(entry[0])}`, (v) => { entry[1] = v ?? ''; emit(); });
      const remove = document.createElement('button');
      remove.textContent = '×';
      remove.title = 'Remove';
      remove.onclick = () => { pendingSnapshot = true; entries.splice(i, 1); emit(); draw(); };
      row.append(key, val, remove);
      fs.append(row);
    });
    const add = document.createElement('button');
    add.textContent = '+ entry';
    add.onclick = () => {
      let k = 'key';
      for (let n = 2; entries.some((e) => e[0] === k); n++) k = `key${n}`;
      pendingSnapshot = true;
      entries.push([k, emptyValue(valueSchema, root)]);
      emit();
      draw();
    };
    fs.append(add);
  };
  draw();
  return fs;
}

function arrayControl(s, root, value, pointer, set) {
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
      const c = control(itemSchema, root, item, `${pointer}/${i}`, (v) => { items[i] = v; emit(); });
      const remove = document.createElement('button');
      remove.textContent = '×';
      remove.title = 'Remove';
      remove.onclick = () => { pendingSnapshot = true; items.splice(i, 1); emit(); draw(); };
      row.append(c, remove);
      fs.append(row);
    });
    const add = document.createElement('button');
    add.textContent = '+ item';
    add.onclick = () => { pendingSnapshot = true; items.push(emptyValue(itemSchema, root)); emit(); draw(); };
    fs.append(add);
  };
  draw();
  return fs;
}

function renderPanel() {
  const panel = $('panel');
  panel.replaceChildren();
  if (!state.doc) return;
  const h = document.createElement('h2');
  const sel = state.selected;
  if (sel?.node && nodeById(sel.node)) {
    const node = nodeById(sel.node);
    const i = nodeIndex(node.id);
    const reference = Object.keys(node);
    const kind = state.kinds.get(node.type);
    h.textContent = `${kind?.glyph || ''} ${node.type}`;
    panel.append(h);
    if (kind) {
      const d = document.createElement('div');
      d.className = 'help';
      d.textContent = kind.description;
      panel.append(d);
    }
    // After a run, what the node did comes first: that is what a click on it is for.
    const ran = runOf(node.id);
    if (ran) panel.append(nodeRunSection(node.id, ran));
    panel.append(label('id'));
    panel.append(input('text', node.id, `/nodes/${i}/id`, (v) => renameNode(node, v)));
    panel.append(label('title', 'A label for the drawing'));
    panel.append(input('text', node.title, `/nodes/${i}/title`, (v) => edit(() => {
      assignKey(node, 'title', v === '' ? undefined : v, reference);
    })));
    if (state.doc.start !== node.id) {
      const b = document.createElement('button');
      b.textContent = 'Make it the start';
      b.onclick = () => commit((doc) => { doc.start = node.id; });
      panel.append(document.createElement('br'), b);
    }
    const schema = kind?.schema;
    for (const [key, sub] of Object.entries(schema?.properties || {})) {
      const s = resolve(sub, schema);
      const required = (schema.required || []).includes(key);
      panel.append(label(required ? `${key} *` : key, s.description));
      panel.append(control(sub, schema, node[key], `/nodes/${i}/${escapePointer(key)}`, (v) => edit(() => {
        assignKey(node, key, v, reference);
      })));
    }
    if (about(node, 'status-exits')) panel.append(statusExitControl(node));
    if (state.version) panel.append(testsSection(node.id));
  } else if (sel?.edge !== undefined && edges()[sel.edge]) {
    const e = edges()[sel.edge];
    h.textContent = 'Edge';
    panel.append(h, label(`${e.from} —${e.exit || 'ok'}→ ${e.to}`, 'Delete removes it; drag from the exit again to rewire it.'));
  } else {
    h.textContent = `Flow ${state.file || ''}`;
    panel.append(h);
    const reference = Object.keys(state.doc);
    for (const key of ['name', 'description']) {
      panel.append(label(key));
      panel.append(input(key === 'description' ? 'textarea' : 'text', state.doc[key], `/${key}`, (v) => edit((doc) => {
        assignKey(doc, key, v === '' ? undefined : v, reference);
      })));
    }
    panel.append(label('start', 'The node a run begins with'));
    const start = document.createElement('select');
    start.dataset.pointer = '/start';
    for (const n of nodes()) {
      const o = document.createElement('option');
      o.value = o.textContent = n.id;
      start.append(o);
    }
    start.value = state.doc.start ?? '';
    start.onchange = () => commit((doc) => { doc.start = start.value; });
    panel.append(start);
    for (const key of ['parameters', 'variables']) {
      panel.append(label(key, 'JSON'));
      panel.append(jsonControl(state.doc[key], `/${key}`, (v) => edit((doc) => {
        assignKey(doc, key, v, reference);
      })));
    }
    if (state.version) {
      panel.append(label('profiles', 'The authorization profiles the saved flow uses, and whether they resolve'));
      const box = document.createElement('div');
      box.id = 'profiles';
      panel.append(box);
      renderProfiles(box);
      panel.append(runSection());
      panel.append(testsSection(null));
    }
  }
  markFields();
}

// Lists the profiles the flow uses and whether they resolve from the chosen profiles file
// (the server never sends a secret, only what is missing).
async function renderProfiles(box) {
  const chosen = state.profilesFile || 'profiles.json';
  const path = `/api/flows/${encodeURIComponent(state.file)}/profiles?profiles=${encodeURIComponent(chosen)}`;
  const { status: code, data } = await api('GET', path);
  box.replaceChildren();
  if (code !== 200) {
    box.textContent = data.error || 'cannot check the profiles';
    return;
  }
  if (!data.profiles.length) {
    box.textContent = 'This flow uses no authorization profile.';
    return;
  }
  const select = document.createElement('select');
  for (const file of data.files.includes(data.file) ? data.files : [data.file, ...data.files]) {
    const o = document.createElement('option');
    o.value = o.textContent = file;
    select.append(o);
  }
  select.value = data.file;
  select.onchange = () => { state.profilesFile = select.value; renderProfiles(box); };
  box.append(select);
  for (const p of data.profiles) {
    const line = document.createElement('div');
    line.className = p.resolves ? 'resolves' : 'unresolved';
    line.textContent = p.resolves ? `✓ ${p.name}` : `✗ ${p.name}: ${p.error}`;
    box.append(line);
  }
}

function renameNode(node, id) {
  edit((doc) => {
    const old = node.id;
    for (const e of edges()) {
      if (e.from === old) e.from = id;
      if (e.to === old) e.to = id;
    }
    if (doc.start === old) doc.start = id;
    node.id = id;
    state.selected = { node: id };
  });
}

// ---- status exits -----------------------------------------------------------------------

// An HTTP Request node takes a status exit ("404", "4xx") when the flow wires one: this adds
// its port, to be dragged to a node like any other exit (it is kept in the file by its edge).
function statusExitControl(node) {
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
    const extra = state.extraExits[node.id] || (state.extraExits[node.id] = []);
    if (!exitsOf(node).includes(exit)) extra.push(exit);
    code.value = '';
    message.textContent = `exit ${exit} added: drag it from the node to where it goes`;
    render();
  };
  row.append(code, add);
  box.append(row, message);
  return box;
}

// ---- runs ---------------------------------------------------------------------------------

const runOf = (id) => (state.run && state.run.file === state.file ? state.run.nodes[id] : undefined);
const failedRun = (n) => !!n.error || n.stopped || n.exit === 'error' || n.exit === 'unauthenticated';

function runLine(n) {
  if (n.state === 'running') return n.count > 1 ? `running… (×${n.count})` : 'running…';
  if (n.stopped) return '✗ cut short';
  const exit = n.exit ?? 'end';
  return `→ ${exit} · ${n.ms} ms${n.count > 1 ? ` · ×${n.count}` : ''}`;
}

function pretty(value, limit = 200000) {
  const text = JSON.stringify(value, null, 2) ?? 'null';
  return text.length > limit ? `${text.slice(0, limit)}\n… (${text.length - limit} more characters)` : text;
}

function pre(id, text) {
  const el = document.createElement('pre');
  el.id = id;
  el.textContent = text;
  return el;
}

// The form's parameters: declared defaults, then the studio's (the simulator's Graph), then
// what was typed.
function paramText(name, declared) {
  const typed = state.runParams[state.file]?.[name];
  if (typed !== undefined) return typed;
  const given = state.settings.params?.[name] ?? declared?.default;
  if (given === undefined || given === null) return '';
  return typeof given === 'string' ? given : JSON.stringify(given);
}

function runSection() {
  const box = document.createElement('section');
  box.id = 'run-form';
  const h = document.createElement('h2');
  h.textContent = 'Run';
  box.append(h);
  if (state.settings.sim) {
    const note = document.createElement('div');
    note.className = 'help';
    note.textContent = `The simulator runs at ${state.settings.sim}; profiles.sim.json signs in to it.`;
    box.append(note);
  }
  const params = state.doc.parameters && typeof state.doc.parameters === 'object' ? state.doc.parameters : {};
  const typed = state.runParams[state.file] || (state.runParams[state.file] = {});
  for (const [name, declared] of Object.entries(params)) {
    const type = declared?.type || 'string';
    const required = declared?.default === undefined && declared?.required !== false;
    box.append(label(`${name}${required ? ' *' : ''} (${type})`, declared?.description));
    let el;
    if (type === 'boolean') {
      el = document.createElement('input');
      el.type = 'checkbox';
      el.checked = paramText(name, declared) === 'true';
      el.onchange = () => { typed[name] = String(el.checked); };
    } else {
      el = document.createElement(type === 'array' || type === 'object' ? 'textarea' : 'input');
      if (el.tagName === 'INPUT') el.type = type === 'integer' || type === 'number' ? 'number' : 'text';
      el.value = paramText(name, declared);
      el.oninput = () => { typed[name] = el.value; };
    }
    el.dataset.param = name;
    box.append(el);
  }
  const limits = document.createElement('div');
  limits.className = 'row';
  for (const [key, text, placeholder] of [['max_steps', 'step limit', String(state.settings.max_steps)], ['timeout_secs', 'timeout (s)', '120']]) {
    const cell = document.createElement('div');
    const el = document.createElement('input');
    el.type = 'number';
    el.id = `run-${key}`;
    el.placeholder = placeholder;
    el.value = state.runLimits[key];
    el.oninput = () => { state.runLimits[key] = el.value; };
    cell.append(label(text), el);
    limits.append(cell);
  }
  box.append(limits);
  const start = document.createElement('button');
  start.id = 'run-start';
  start.textContent = '▶ Start the run';
  start.disabled = state.run?.status === 'running';
  start.onclick = startRun;
  box.append(start);
  const line = document.createElement('div');
  line.id = 'run-status';
  box.append(line);
  if (state.run && state.run.file === state.file) {
    line.textContent = runStatusText();
    line.className = state.run.status === 'failed' ? 'unresolved' : '';
    if (state.run.report) {
      box.append(label('result'));
      box.append(pre('run-result', pretty(state.run.report.result)));
      if (state.run.report.error) box.append(label('error'), pre('run-error', pretty(state.run.report.error)));
    }
  }
  return box;
}

function runStatusText() {
  const r = state.run;
  if (r.status === 'running') return `running… (${Object.keys(r.nodes).length} nodes so far)`;
  const at = r.report?.node ? ` at ${r.report.node}` : '';
  const steps = r.report?.steps !== undefined ? `, ${r.report.steps} steps` : '';
  const dropped = r.report?.dropped_events ? ` (${r.report.dropped_events} later events not kept)` : '';
  return `${r.status}${at}${steps}${r.ms !== undefined ? `, ${r.ms} ms` : ''}${dropped}`;
}

// The form's values, typed by the declarations: empty fields are left out (defaults apply).
function collectParams() {
  const params = {};
  const declared = state.doc.parameters && typeof state.doc.parameters === 'object' ? state.doc.parameters : {};
  for (const [name, d] of Object.entries(declared)) {
    const text = paramText(name, d);
    const type = d?.type || 'string';
    if (type === 'boolean') { params[name] = text === 'true'; continue; }
    if (text === '') continue;
    if (type === 'integer' || type === 'number') params[name] = Number(text);
    else if (type === 'array' || type === 'object') {
      try { params[name] = JSON.parse(text); } catch { throw new Error(`parameter ${name} is not JSON`); }
    } else params[name] = text;
  }
  return params;
}

// The run form sits in the flow's panel.
function showRunForm() {
  select(null);
  $('run-form')?.scrollIntoView({ block: 'start' });
}

async function startRun() {
  if (!state.file || !state.version || state.dirty) {
    status('Save the flow first: a run uses the saved file', true);
    return;
  }
  let params;
  try { params = collectParams(); } catch (err) { status(err.message, true); return; }
  const body = { profiles: state.profilesFile || state.settings.profiles || 'profiles.json', params };
  for (const key of ['max_steps', 'timeout_secs']) if (state.runLimits[key] !== '') body[key] = Number(state.runLimits[key]);
  const file = state.file;
  const { status: code, data } = await api('POST', `/api/flows/${encodeURIComponent(file)}/runs`, body);
  if (code !== 200) {
    status(`not run: ${data.error || code}`, true);
    if (data.diagnostics) { state.diagnostics = data.diagnostics; renderDiagnostics(); render(); }
    return;
  }
  state.run?.source?.close();
  state.run = { id: data.run, file, status: 'running', nodes: {}, report: null };
  const run = state.run;
  const source = new EventSource(data.events);
  run.source = source;
  source.addEventListener('trace', (ev) => onTrace(run, JSON.parse(ev.data)));
  source.addEventListener('report', (ev) => {
    source.close();
    run.report = JSON.parse(ev.data);
    run.status = run.report.status;
    // A node still running when the run ended was cut short (stop, timeout, step limit).
    for (const n of Object.values(run.nodes)) {
      if (n.state !== 'running') continue;
      const message = run.report.dropped_events
        ? `the run went on, but its later events were past what the studio keeps (${run.report.dropped_events} not kept)`
        : run.status;
      Object.assign(n, { state: 'done', stopped: true, exit: undefined, ms: undefined, error: run.report.error ?? { message } });
    }
    if (state.run === run) {
      status(`run ${run.status}${run.report.node && run.status !== 'succeeded' ? ` at ${run.report.node}` : ''}`, run.status !== 'succeeded');
      render();
      renderPanel();
    }
  });
  source.addEventListener('error', () => {
    // The browser reconnects by itself; a closed stream means the run is gone (the studio was
    // restarted, or a newer run of this flow replaced it): stop showing it as running.
    if (source.readyState !== EventSource.CLOSED || run.report) return;
    run.status = 'lost';
    if (state.run === run) {
      status('the run is no longer available (was the studio restarted?)', true);
      render();
      renderPanel();
    }
  });
  status(`running ${file}…`);
  render();
  renderPanel();
}

function onTrace(run, e) {
  const n = e.node !== undefined ? (run.nodes[e.node] || (run.nodes[e.node] = { count: 0, http: [], taken: new Set() })) : null;
  switch (e.event) {
    case 'run_started':
      // A reconnected stream starts again from the beginning.
      run.nodes = {};
      break;
    case 'node_started':
      Object.assign(n, { state: 'running', step: e.step, error: undefined });
      n.count += 1;
      if (n.count > 1) n.http = [];
      break;
    case 'http':
      n.http.push(e);
      if (n.http.length > 100) n.http.shift();
      break;
    case 'node_finished':
      Object.assign(n, { state: 'done', exit: e.exit, ms: e.ms, error: e.error, writes: e.writes });
      if (e.exit) n.taken.add(e.exit);
      break;
    case 'run_finished':
      Object.assign(run, { ms: e.ms, steps: e.steps });
      break;
    default:
      break;
  }
  if (state.run !== run) return;
  scheduleRender();
  // The open node's panel follows its node.
  if (n && state.selected?.node === e.node && e.event === 'node_finished') renderPanel();
}

async function stopRun() {
  if (!state.run || state.run.status !== 'running') return;
  await api('POST', `/api/runs/${state.run.id}/stop`, {});
}

function nodeRunSection(id, n) {
  const box = document.createElement('section');
  box.id = 'node-run';
  const h = document.createElement('h2');
  h.textContent = 'Last run';
  box.append(h);
  const line = document.createElement('div');
  line.id = 'node-run-state';
  line.className = failedRun(n) ? 'unresolved' : '';
  line.textContent = n.state === 'running' ? 'running…'
    : n.stopped ? 'cut short: the run ended while it ran'
    : `exit ${n.exit ?? '(end)'} · ${n.ms} ms${n.count > 1 ? ` · ran ${n.count} times (the last is shown)` : ''}`;
  box.append(line);
  if (n.error) box.append(label('error'), pre('node-run-error', pretty(n.error)));
  if (n.state === 'done') box.append(label('output', 'The variables it wrote (values of secret-looking keys redacted)'), pre('node-run-output', pretty(n.writes ?? {})));
  if (n.http.length) {
    box.append(label('HTTP requests'));
    const list = document.createElement('ol');
    list.id = 'node-run-http';
    for (const r of n.http) {
      const item = document.createElement('li');
      item.textContent = `${r.method} ${r.url} → ${r.status ?? 'no answer'}${r.attempt > 1 ? ` (attempt ${r.attempt})` : ''} · ${r.ms} ms`;
      list.append(item);
    }
    box.append(list);
  }
  box.append(label('input', 'The variables when it started (redacted; large values cut)'));
  const input = pre('node-run-input', '…');
  box.append(input);
  const run = state.run;
  api('GET', `/api/runs/${run.id}/input/${encodeURIComponent(id)}`).then(({ status: code, data }) => {
    input.textContent = code === 200 ? pretty(data.vars) : data.error || String(code);
  });
  return box;
}

// ---- test cases ---------------------------------------------------------------------------

function testsSection(node) {
  const box = document.createElement('section');
  box.id = node ? 'node-tests' : 'flow-tests';
  const h = document.createElement('h2');
  h.textContent = node ? 'Test cases of this node' : 'Test cases';
  const button = document.createElement('button');
  button.id = node ? 'node-tests-run' : 'flow-tests-run';
  button.textContent = node ? '▶ Run its cases' : '▶ Run all cases';
  const results = document.createElement('div');
  results.id = 'tests-results';
  const key = `${state.file}#${node || ''}`;
  button.onclick = async () => {
    results.textContent = 'running…';
    const { status: code, data } = await api('POST', `/api/flows/${encodeURIComponent(state.file)}/tests`, node ? { node } : {});
    state.tests[key] = code === 200 ? data : { error: data.error || String(code) };
    showTests(results, state.tests[key]);
    results.scrollIntoView({ block: 'nearest' });
  };
  box.append(h, button, results);
  if (state.tests[key]) showTests(results, state.tests[key]);
  return box;
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

// ---- files --------------------------------------------------------------------------------

async function openFlow(file, { force = false } = {}) {
  if (!force && state.dirty && !confirm('Discard the unsaved changes?')) {
    $('flows').value = state.file ?? '';
    return;
  }
  const { status: code, data } = await api('GET', `/api/flows/${encodeURIComponent(file)}`);
  if (code !== 200) {
    status(data.error || `cannot open ${file}`, true);
    return;
  }
  if (!data.flow || typeof data.flow !== 'object') {
    status(`${file} is not a JSON object; fix it in an editor first`, true);
    return;
  }
  Object.assign(state, { file, version: data.version, doc: data.flow, undo: [], redo: [], selected: null, dirty: false, extraExits: {} });
  applyAnalysis(data);
  fitView();
  history.replaceState(null, '', `#${encodeURIComponent(file)}`);
  render();
  renderPanel();
  status(`opened ${file}`);
}

async function save() {
  if (!state.file) return;
  const { status: code, data } = await api('PUT', `/api/flows/${encodeURIComponent(state.file)}`, { version: state.version, flow: state.doc });
  if (code === 200) {
    state.version = data.version;
    state.dirty = false;
    applyAnalysis(data);
    render();
    status(`saved ${state.file}${data.valid ? '' : ' (with errors)'}`);
  } else if (code === 409) {
    status(`not saved: ${data.error}`, true);
    $('reopen').hidden = false;
  } else {
    status(`not saved: ${data.error || code}`, true);
  }
}

function addFlowOption(file, name) {
  const o = document.createElement('option');
  o.value = file;
  o.textContent = name ? `${name} (${file})` : file;
  $('flows').append(o);
}

// A new, empty flow; the file is created when it is first saved.
function newFlow() {
  if (state.dirty && !confirm('Discard the unsaved changes?')) return;
  const name = prompt('Name of the new flow (letters, digits, - and _):', 'my-flow');
  if (name === null) return;
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    status(`\`${name}\` is not a usable name: letters, digits, - and _ only`, true);
    return;
  }
  const file = `${name}.flow.json`;
  if ([...$('flows').options].some((o) => o.value === file)) {
    status(`${file} exists already: pick it in the list`, true);
    return;
  }
  addFlowOption(file, name);
  $('flows').value = file;
  Object.assign(state, {
    file, version: null, undo: [], redo: [], selected: null, dirty: true, exits: {}, layout: {}, extraExits: {},
    doc: { format: 'weft.flow/1', name, nodes: [], edges: [] },
  });
  state.view = { x: 0, y: 0, k: 1 };
  history.replaceState(null, '', `#${encodeURIComponent(file)}`);
  render();
  renderPanel();
  scheduleValidate();
  status(`new flow ${file}: add nodes from the palette, then save`);
}

async function start() {
  const [kinds, flows, settings] = await Promise.all([api('GET', '/api/kinds'), api('GET', '/api/flows'), api('GET', '/api/settings')]);
  if (kinds.status !== 200 || flows.status !== 200) {
    status(kinds.data.error || flows.data.error || 'cannot reach the server', true);
    return;
  }
  if (settings.status === 200) state.settings = settings.data;
  state.profilesFile = state.settings.profiles || null;
  const palette = $('palette');
  for (const kind of kinds.data.kinds) {
    state.kinds.set(kind.name, kind);
    const b = document.createElement('button');
    b.textContent = `${kind.glyph} ${kind.name}`;
    b.title = kind.description;
    b.dataset.kind = kind.name;
    b.onclick = () => { if (state.doc) addNode(kind.name); };
    palette.append(b);
  }
  const select = $('flows');
  for (const f of flows.data.flows) addFlowOption(f.file, f.name);
  select.onchange = () => openFlow(select.value);
  $('undo').onclick = undo;
  $('redo').onclick = redo;
  $('delete').onclick = deleteSelected;
  $('save').onclick = save;
  $('new').onclick = newFlow;
  $('reopen').onclick = () => openFlow(state.file, { force: true });
  $('run').onclick = showRunForm;
  $('stop').onclick = stopRun;
  const canvas = $('canvas');
  canvas.addEventListener('pointerdown', startPan);
  canvas.addEventListener('wheel', zoom, { passive: false });
  document.addEventListener('keydown', (ev) => {
    const typing = /INPUT|TEXTAREA|SELECT/.test(document.activeElement?.tagName || '');
    const mod = ev.ctrlKey || ev.metaKey;
    if (mod && ev.key === 's') { ev.preventDefault(); save(); }
    else if (typing) return;
    else if (mod && ev.key === 'z' && !ev.shiftKey) { ev.preventDefault(); undo(); }
    else if (mod && (ev.key === 'y' || (ev.key === 'z' && ev.shiftKey))) { ev.preventDefault(); redo(); }
    else if (ev.key === 'Delete' || ev.key === 'Backspace') deleteSelected();
  });
  window.addEventListener('beforeunload', (ev) => { if (state.dirty) ev.preventDefault(); });
  const wanted = decodeURIComponent(location.hash.slice(1));
  const first = flows.data.flows.find((f) => f.file === wanted) || flows.data.flows[0];
  if (first) {
    select.value = first.file;
    await openFlow(first.file);
  } else {
    status('no *.flow.json files in this directory');
  }
  document.body.dataset.ready = 'true';
}

start();
