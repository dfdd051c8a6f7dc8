// The flow being edited: the document and its file and version, undo and redo, the
// selection, what the server last said of it (diagnostics, each node's exits), and a layout
// for the nodes without a position. It is the one owner of this state: views read it
// through its getters and change it through its methods, which record undo steps, mark it
// unsaved, have the server validate it and tell the views through the hooks it was given.

import { api, flowUrl } from './api.js';
import { tokensOf } from './kinds.js';
import { arrange } from './layout.js';

const UNDO_STEPS = 200;
const VALIDATE_DELAY_MS = 300;

// Whether `node` has a position of its own (else it is laid out).
const hasPosition = (node) => Array.isArray(node.position) && node.position.length === 2;

export class FlowDocument {
  #kinds;
  #hooks;
  #file = null;
  #version = null;
  #flow = null;
  #dirty = false;
  #selected = null; // { node: id }, { nodes: [id, …] } (two or more) or { edge: index }
  #undo = [];
  #redo = [];
  #exits = {};
  // The layered layout (node id → position) and what it was made of: the ids, the edges and
  // the start, all it depends on.
  #layout = {};
  #layoutKey = null;
  #diagnostics = [];
  #extraExits = {}; // node id → status exits added in the panel, not wired yet
  // Edits through the form: one undo step per field visit.
  #stepPending = true;
  #validateTimer = null;
  #validateSeq = 0;

  // `hooks`: `redraw()` (the canvas and the header), `panel()` (the side panel),
  // `analysed()` (the server's new diagnostics), `problem(message)` (validation failed).
  constructor(kinds, hooks) {
    this.#kinds = kinds;
    this.#hooks = hooks;
  }

  get file() { return this.#file; }
  // The version opened or last saved (null for a file not saved yet).
  get version() { return this.#version; }
  // The flow document (a `weft.flow/1` value), null before one is opened.
  get flow() { return this.#flow; }
  get dirty() { return this.#dirty; }
  get selected() { return this.#selected; }
  get diagnostics() { return this.#diagnostics; }
  get canUndo() { return this.#undo.length > 0; }
  get canRedo() { return this.#redo.length > 0; }

  nodes() {
    return Array.isArray(this.#flow?.nodes) ? this.#flow.nodes : [];
  }

  edges() {
    return Array.isArray(this.#flow?.edges) ? this.#flow.edges : [];
  }

  node(id) {
    return this.nodes().find((n) => n.id === id);
  }

  nodeIndex(id) {
    return this.nodes().findIndex((n) => n.id === id);
  }

  // Where a node is drawn: its `position`, else the layered layout.
  positionOf(node) {
    if (hasPosition(node)) return node.position;
    return this.#layout[node.id] || [40, 40];
  }

  // A node's exits: the server's (else its kind's), then those wired or added in the panel.
  exitsOf(node) {
    const known = this.#exits[node.id];
    const list = known ? [...known] : this.#kinds.fallbackExits(node);
    for (const e of this.edges()) {
      const exit = e.exit || 'ok';
      if (e.from === node.id && !list.includes(exit)) list.push(exit);
    }
    for (const exit of this.#extraExits[node.id] || []) if (!list.includes(exit)) list.push(exit);
    return list;
  }

  diagnosticsOf(id) {
    return this.#diagnostics.filter((d) => d.node === id);
  }

  // Whether the field at `pointer` (`/nodes/3/conditions/0/when`) is an expression or a template.
  isCode(pointer) {
    const m = /^\/nodes\/(\d+)(\/.*)$/.exec(pointer);
    const node = m && this.nodes()[Number(m[1])];
    if (!node) return false;
    return this.#kinds.isCode(node, tokensOf(m[2]));
  }

  select(selection) {
    this.#selected = selection;
    this.#hooks.redraw();
    this.#hooks.panel();
  }

  // The ids of the selected nodes (none when an edge or nothing is selected).
  selectedIds() {
    const sel = this.#selected;
    return sel?.nodes ? [...sel.nodes] : sel?.node ? [sel.node] : [];
  }

  // Selects the nodes `ids`.
  selectNodes(ids) {
    this.select(selectionOf(ids));
  }

  // Adds node `id` to the selected nodes, or takes it out (Shift+click).
  toggle(id) {
    const ids = this.selectedIds();
    this.selectNodes(ids.includes(id) ? ids.filter((n) => n !== id) : [...ids, id]);
  }

  // Records an undo step, applies `change` to the flow, redraws (the form too, unless
  // `form` is false) and has it validated.
  commit(change, { form = true } = {}) {
    this.#snapshot();
    change(this.#flow);
    this.#changed({ form });
  }

  // The next `edit` starts a new undo step (a form field was entered).
  newStep() {
    this.#stepPending = true;
  }

  // An edit through the form: `change` applied to the flow, in the current undo step.
  edit(change) {
    if (this.#stepPending) {
      this.#snapshot();
      this.#stepPending = false;
    }
    change(this.#flow);
    this.#changed({ form: false });
  }

  // The flow as it is now, to record as one undo step once a gesture (a drag) is done.
  checkpoint() {
    return JSON.stringify(this.#flow);
  }

  // Moves a node while it is dragged: no undo step yet, nothing redrawn.
  place(id, position) {
    const node = this.node(id);
    if (node) node.position = position;
  }

  // A gesture that began at `before` (from `checkpoint`) is done: one undo step.
  recordSince(before) {
    this.#undo.push(before);
    this.#redo = [];
    this.#changed({ form: false });
  }

  undo() {
    if (!this.#undo.length) return;
    this.#redo.push(JSON.stringify(this.#flow));
    this.#flow = JSON.parse(this.#undo.pop());
    this.#changed();
  }

  redo() {
    if (!this.#redo.length) return;
    this.#undo.push(JSON.stringify(this.#flow));
    this.#flow = JSON.parse(this.#redo.pop());
    this.#changed();
  }

  // Adds `node` (the start, in an empty flow) and selects it.
  add(node) {
    this.commit((flow) => {
      if (!Array.isArray(flow.nodes)) flow.nodes = [];
      flow.nodes.push(node);
      if (!flow.start) flow.start = node.id;
    }, { form: false });
    this.select({ node: node.id });
  }

  // The selected nodes and the edges between them, as copied (Ctrl+C); null when no node is
  // selected.
  copySelection() {
    const ids = new Set(this.selectedIds());
    if (!ids.size) return null;
    const nodes = this.nodes().filter((n) => ids.has(n.id)).map((n) => ({ ...n, position: this.positionOf(n) }));
    const edges = this.edges().filter((e) => ids.has(e.from) && ids.has(e.to));
    return structuredClone({ nodes, edges });
  }

  // Adds a copy of `copied` (`copySelection`, of this flow or another) a little below and right
  // of where it was, each node under an id of its own, the edges between them wired to the
  // copies, as one undo step; selects the copies.
  paste(copied) {
    const renamed = {};
    const nodes = copied.nodes.map((node) => {
      const base = String(node.id).replace(/_\d+$/, '');
      let n = 2;
      while (this.node(`${base}_${n}`) || Object.values(renamed).includes(`${base}_${n}`)) n++;
      renamed[node.id] = `${base}_${n}`;
      const [x, y] = node.position;
      return { ...structuredClone(node), id: renamed[node.id], position: [x + 30, y + 30] };
    });
    const edges = copied.edges.map((e) => ({ ...e, from: renamed[e.from], to: renamed[e.to] }));
    this.commit((flow) => {
      if (!Array.isArray(flow.nodes)) flow.nodes = [];
      if (!Array.isArray(flow.edges)) flow.edges = [];
      flow.nodes.push(...nodes);
      flow.edges.push(...edges);
      if (!flow.start) flow.start = nodes[0].id;
    }, { form: false });
    this.selectNodes(nodes.map((n) => n.id));
  }

  // Wires `exit` of `from` to `to`, replacing the exit's edge if it had one (one edge per exit).
  connect(from, exit, to) {
    this.commit((flow) => {
      if (!Array.isArray(flow.edges)) flow.edges = [];
      const edge = exit === 'ok' ? { from, to } : { from, exit, to };
      const at = flow.edges.findIndex((e) => e.from === from && (e.exit || 'ok') === exit);
      if (at >= 0) flow.edges[at] = edge;
      else flow.edges.push(edge);
    });
  }

  deleteSelected() {
    const sel = this.#selected;
    if (!sel) return;
    const ids = new Set(this.selectedIds());
    if (ids.size) {
      this.commit((flow) => {
        flow.nodes = this.nodes().filter((n) => !ids.has(n.id));
        flow.edges = this.edges().filter((e) => !ids.has(e.from) && !ids.has(e.to));
        if (ids.has(flow.start)) {
          if (flow.nodes.length) flow.start = flow.nodes[0].id;
          else delete flow.start;
        }
      });
    } else if (sel.edge !== undefined) {
      const index = sel.edge;
      this.commit((flow) => { flow.edges.splice(index, 1); });
    }
    this.select(null);
  }

  // Renames `node` (an object of this flow) to `id`, with its edges and the start.
  rename(node, id) {
    this.edit((flow) => {
      const old = node.id;
      for (const e of this.edges()) {
        if (e.from === old) e.from = id;
        if (e.to === old) e.to = id;
      }
      if (flow.start === old) flow.start = id;
      node.id = id;
      this.#selected = { node: id };
    });
  }

  // Gives a node the exit `exit` (a status exit) to drag to a node; it is kept by its edge.
  addExit(id, exit) {
    const node = this.node(id);
    if (node && !this.exitsOf(node).includes(exit)) (this.#extraExits[id] || (this.#extraExits[id] = [])).push(exit);
    this.#hooks.redraw();
  }

  // Shows `diagnostics` (of the saved file) until the next validation; nothing is redrawn.
  setDiagnostics(diagnostics) {
    this.#diagnostics = diagnostics;
  }

  // Opens `file` from the server: null, or why it could not be opened.
  async open(file) {
    const { status: code, data } = await api('GET', flowUrl(file));
    if (code !== 200) return data.error || `cannot open ${file}`;
    if (!data.flow || typeof data.flow !== 'object') return `${file} is not a JSON object; fix it in an editor first`;
    this.#file = file;
    this.#version = data.version;
    this.#flow = data.flow;
    this.#undo = [];
    this.#redo = [];
    this.#selected = null;
    this.#dirty = false;
    this.#extraExits = {};
    this.#analysed(data);
    return null;
  }

  // A new, empty flow named `name`; its file `file` is created when it is first saved.
  startNew(file, name) {
    this.#file = file;
    this.#version = null;
    this.#undo = [];
    this.#redo = [];
    this.#selected = null;
    this.#dirty = true;
    this.#exits = {};
    this.#layout = {};
    this.#layoutKey = null;
    this.#extraExits = {};
    this.#flow = { format: 'weft.flow/1', name, nodes: [], edges: [] };
    this.#validateSoon();
  }

  // Saves the flow over the version it was opened at: null without a file, else `{ saved,
  // valid }` or `{ conflict, error }` (409: the file changed or appeared on disk meanwhile).
  async save() {
    if (!this.#file) return null;
    const { status: code, data } = await api('PUT', flowUrl(this.#file), { version: this.#version, flow: this.#flow });
    if (code === 200) {
      this.#version = data.version;
      this.#dirty = false;
      this.#analysed(data);
      return { saved: true, valid: data.valid };
    }
    return { saved: false, conflict: code === 409, error: data.error || code };
  }

  #snapshot() {
    this.#undo.push(JSON.stringify(this.#flow));
    if (this.#undo.length > UNDO_STEPS) this.#undo.shift();
    this.#redo = [];
  }

  #changed({ form = true } = {}) {
    this.#dirty = true;
    if (this.#selected?.node && !this.node(this.#selected.node)) this.#selected = null;
    if (this.#selected?.nodes) this.#selected = selectionOf(this.#selected.nodes.filter((id) => this.node(id)));
    if (this.#selected?.edge !== undefined && !this.edges()[this.#selected.edge]) this.#selected = null;
    this.#hooks.redraw();
    if (form) this.#hooks.panel();
    this.#validateSoon();
  }

  #validateSoon() {
    clearTimeout(this.#validateTimer);
    this.#validateTimer = setTimeout(() => this.#validate(), VALIDATE_DELAY_MS);
  }

  async #validate() {
    const seq = ++this.#validateSeq;
    const file = this.#file ? `?file=${encodeURIComponent(this.#file)}` : '';
    const { status: code, data } = await api('POST', `/api/validate${file}`, this.#flow);
    if (seq !== this.#validateSeq) return;
    if (code !== 200) {
      this.#hooks.problem(data.error || `validation failed (${code})`);
      return;
    }
    this.#analysed(data);
  }

  // Every node laid out again in layers, as one undoable step.
  tidy() {
    if (!this.#flow) return;
    const placed = this.#arranged();
    this.commit((flow) => {
      for (const node of flow.nodes || []) {
        if (placed[node.id]) node.position = [...placed[node.id]];
      }
    });
  }

  // The layered layout of the flow as it is: laid out again only when its ids, edges or start
  // changed.
  #arranged() {
    const nodes = this.nodes().filter((n) => typeof n.id === 'string');
    const edges = this.edges();
    const start = this.#flow.start;
    const key = JSON.stringify([nodes.map((n) => n.id), edges.map((e) => [e?.from, e?.to, e?.exit]), start]);
    if (key !== this.#layoutKey) {
      this.#layout = arrange(nodes, edges, start);
      this.#layoutKey = key;
    }
    return this.#layout;
  }

  // The server's analysis: `{ diagnostics, exits }`.
  #analysed(data) {
    this.#diagnostics = data.diagnostics || [];
    this.#exits = data.exits || {};
    // Nodes without a position are laid out in layers here (the server's own layout is for
    // drawings without a browser: `weft graph`).
    if (this.nodes().some((n) => !hasPosition(n))) this.#arranged();
    this.#hooks.analysed();
  }
}

// The selection of the nodes `ids`: one as `{ node }`, more as `{ nodes }`, none as nothing.
function selectionOf(ids) {
  return ids.length > 1 ? { nodes: ids } : ids.length ? { node: ids[0] } : null;
}
