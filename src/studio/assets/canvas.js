// The canvas: the flow drawn in SVG (nodes at their positions, edges from each exit's handle,
// the last run's progress on them), and what the pointer does there: select (Shift+click and
// a Shift+drag rectangle select several), drag the selected nodes, drag from an exit's handle
// to a node to wire it, pan, zoom. Changes go to the document.

import { $ } from './dom.js';
import { FAILURE_EXITS } from './kinds.js';
import { failedRun, runLine } from './run.js';
import { NODE_SIZE } from './layout.js';
import { Router, curve } from './routes.js';

const [W, H] = NODE_SIZE;
// How many failure exits into one node make it a badge, and how far below the exits a badge
// hangs (under their names).
const BUNDLE_FROM = 3;
const BADGE_DROP = 18;
// The margin inside the minimap.
const MINI_PAD = 6;
const SVG_NS = 'http://www.w3.org/2000/svg';

function setAttributes(el, attrs) {
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function svg(tag, attrs = {}, text) {
  const el = setAttributes(document.createElementNS(SVG_NS, tag), attrs);
  if (text !== undefined) el.textContent = text;
  return el;
}

// The name of `exit` under its handle, shortened when the node's exits are many.
const shortName = (exits, exit) => (exits.length > 2 && exit.length > 7 ? `${exit.slice(0, 6)}…` : exit);

export class Canvas {
  #doc;
  #kinds;
  #lastRun;
  #view = { x: 0, y: 0, k: 1 };
  // Every edge drawn as an edge, failures too (the header's "All edges").
  allEdges = false;
  // The edges' shapes, and what they were worked out from (see `#edgeShapes`).
  #shapes = [];
  #shapesKey = null;

  // `lastRun(id)`: what the last run of this file did at node `id`, if it got there.
  constructor({ doc, kinds, lastRun }) {
    this.#doc = doc;
    this.#kinds = kinds;
    this.#lastRun = lastRun;
    const canvas = $('canvas');
    canvas.addEventListener('pointerdown', (ev) => this.#startPan(ev));
    canvas.addEventListener('wheel', (ev) => this.#zoom(ev), { passive: false });
    $('minimap').addEventListener('pointerdown', (ev) => this.#jump(ev));
  }

  // The bounds of the drawing, in the flow's coordinates: [minX, minY, maxX, maxY].
  #bounds() {
    let b = [Infinity, Infinity, -Infinity, -Infinity];
    for (const n of this.#doc.nodes()) {
      const [x, y] = this.#doc.positionOf(n);
      b = [Math.min(b[0], x), Math.min(b[1], y), Math.max(b[2], x + W), Math.max(b[3], y + H + 20)];
    }
    return b;
  }

  // How the minimap shows the flow: its bounds, their scale `s` to the minimap (of the size the
  // page's style gives it) and `at(x, y)`, where a point of the flow is on it; null for no node.
  #miniScale() {
    const bounds = this.#bounds();
    const [minX, minY, maxX, maxY] = bounds;
    if (minX === Infinity) return null;
    const style = getComputedStyle($('minimap'));
    const [mw, mh] = [parseFloat(style.width), parseFloat(style.height)];
    const s = Math.min((mw - 2 * MINI_PAD) / (maxX - minX), (mh - 2 * MINI_PAD) / (maxY - minY));
    return { bounds, s, at: (x, y) => [MINI_PAD + (x - minX) * s, MINI_PAD + (y - minY) * s] };
  }

  // The minimap's nodes, and the rectangle of the part the canvas shows (placed by `#applyView`).
  #drawMinimap() {
    const map = $('minimap');
    map.replaceChildren();
    const mini = this.#miniScale();
    if (!mini) return;
    for (const n of this.#doc.nodes()) {
      const [x, y] = mini.at(...this.#doc.positionOf(n));
      map.append(svg('rect', { class: 'mini-node', x, y, width: Math.max(2, W * mini.s), height: Math.max(2, H * mini.s) }));
    }
    map.append(svg('rect', { class: 'mini-view' }));
  }

  // Shows the flow as the view says: the drawing moved and scaled, and the minimap, when the
  // flow is larger than the canvas shows, with the part it shows.
  #applyView() {
    const v = this.#view;
    $('viewport').setAttribute('transform', `translate(${v.x},${v.y}) scale(${v.k})`);
    const map = $('minimap');
    const rect = $('canvas').getBoundingClientRect();
    const mini = this.#miniScale();
    const seen = [-v.x / v.k, -v.y / v.k, (rect.width - v.x) / v.k, (rect.height - v.y) / v.k];
    const [minX, minY, maxX, maxY] = mini?.bounds || [];
    const inside = minX >= seen[0] && minY >= seen[1] && maxX <= seen[2] && maxY <= seen[3];
    const hide = !mini || inside;
    map.style.display = hide ? 'none' : 'block';
    const view = map.querySelector('rect.mini-view');
    if (hide || !view) return;
    const [vx, vy] = mini.at(seen[0], seen[1]);
    setAttributes(view, { x: vx, y: vy, width: (seen[2] - seen[0]) * mini.s, height: (seen[3] - seen[1]) * mini.s });
  }

  // A click on the minimap centres the canvas on that point of the flow.
  #jump(ev) {
    ev.stopPropagation();
    const mini = this.#miniScale();
    if (!mini) return;
    const [minX, minY] = mini.bounds;
    const box = $('minimap').getBoundingClientRect();
    const [x, y] = [minX + (ev.clientX - box.left - MINI_PAD) / mini.s, minY + (ev.clientY - box.top - MINI_PAD) / mini.s];
    const rect = $('canvas').getBoundingClientRect();
    const k = this.#view.k;
    this.#view = { k, x: rect.width / 2 - x * k, y: rect.height / 2 - y * k };
    this.#applyView();
  }

  render() {
    const doc = this.#doc;
    const edgeLayer = $('edges');
    const nodeLayer = $('nodes');
    edgeLayer.replaceChildren();
    nodeLayer.replaceChildren();
    this.#drawMinimap();
    this.#applyView();
    if (!doc.flow) return;
    for (const item of this.#edgeShapes()) {
      const g = this.#edgeGroup(item.edge, item.badge ? ['badge'] : []);
      if (item.badge) {
        const { stub, box } = item.badge;
        g.append(svg('path', { d: stub }));
        if (box) {
          g.append(svg('rect', { x: box.x - box.width / 2, y: box.y, width: box.width, height: 16, rx: 8 }));
          g.append(svg('text', { x: box.x, y: box.y + 12, 'text-anchor': 'middle' }, box.text));
        }
      } else {
        g.append(svg('path', { d: item.d, 'marker-end': 'url(#arrow)' }), svg('path', { d: item.d, class: 'hit' }));
        if (item.label) g.append(svg('text', { x: item.label[0], y: item.label[1] }, item.edge.exit));
      }
      edgeLayer.append(g);
    }
    const selected = new Set(doc.selectedIds());
    for (const node of doc.nodes()) {
      if (typeof node.id !== 'string') continue;
      const [x, y] = doc.positionOf(node);
      const diags = doc.diagnosticsOf(node.id);
      const classes = ['node'];
      if (doc.flow.start === node.id) classes.push('start');
      if (selected.has(node.id)) classes.push('selected');
      if (diags.some((d) => d.severity === 'error')) classes.push('bad');
      else if (diags.length) classes.push('warn');
      const ran = this.#lastRun(node.id);
      if (ran) classes.push(ran.state === 'running' ? 'run-running' : failedRun(ran) ? 'run-failed' : 'run-done');
      const g = svg('g', { class: classes.join(' '), 'data-id': node.id, transform: `translate(${x},${y})` });
      if (ran) {
        g.dataset.runState = ran.state;
        if (ran.state === 'done') g.dataset.runExit = ran.exit ?? 'end';
        g.append(svg('text', { x: 0, y: -6, class: 'run-info' }, runLine(ran)));
      }
      const kind = this.#kinds.get(node.type);
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
      g.addEventListener('pointerdown', (ev) => this.#startMove(ev, node.id));
      const list = doc.exitsOf(node);
      list.forEach((exit, i) => {
        const hx = ((i + 1) * W) / (list.length + 1);
        const handle = svg('circle', { cx: hx, cy: H, r: 6, class: 'handle', 'data-exit': exit });
        handle.append(svg('title', {}, `exit ${exit}: drag to a node`));
        handle.addEventListener('pointerdown', (ev) => this.#startConnect(ev, node.id, exit));
        g.append(handle, svg('text', { x: hx + 7, y: H + 12, class: 'handle-label' }, shortName(list, exit)));
      });
      nodeLayer.append(g);
    }
  }

  // Shows the whole drawing: scrolled to its corner, and scaled down when it is larger than the
  // canvas (never up, nor below `smallest`). The view is shown at once: the flow need not be
  // drawn again.
  fit(smallest = 0.2) {
    const rect = $('canvas').getBoundingClientRect();
    const [minX, minY, maxX, maxY] = this.#bounds();
    if (minX === Infinity) {
      this.resetView();
      return;
    }
    const margin = 40;
    const k = Math.min(1, (rect.width - 2 * margin) / (maxX - minX), (rect.height - 2 * margin) / (maxY - minY));
    const scale = Math.max(smallest, k);
    this.#view = { k: scale, x: margin - minX * scale, y: margin - minY * scale };
    this.#applyView();
  }

  // Shows the flow's origin at the canvas's corner, unscaled.
  resetView() {
    this.#view = { x: 0, y: 0, k: 1 };
    this.#applyView();
  }

  // Adds a node of `kind` near the middle of what the canvas shows, and selects it.
  addNode(kind) {
    let n = 1;
    while (this.#doc.node(`${kind}_${n}`)) n++;
    const id = `${kind}_${n}`;
    const rect = $('canvas').getBoundingClientRect();
    const v = this.#view;
    const x = Math.round((rect.width / 2 - v.x) / v.k - W / 2 + (n % 5) * 12);
    const y = Math.round((rect.height / 2 - v.y) / v.k - H / 2 + (n % 5) * 12);
    this.#doc.add(this.#kinds.create(kind, id, [x, y]));
  }

  // Where each edge goes: `{ edge: { e, index, exit }, d, label }` (its path and its label's
  // place, if it has one), or `{ edge, badge: { stub, box } }` for a failure drawn as a badge
  // (the badge's `box` with its first edge only). Worked out again only when a node, an edge
  // or "All edges" changed: a run's progress redraws the canvas every frame.
  #edgeShapes() {
    const doc = this.#doc;
    const nodes = doc.nodes().filter((n) => typeof n.id === 'string');
    const key = JSON.stringify([this.allEdges, nodes.map((n) => [n.id, n.title, doc.positionOf(n), doc.exitsOf(n)]), doc.edges()]);
    if (key === this.#shapesKey) return this.#shapes;
    const router = new Router(nodes.map((n) => {
      const [x, y] = doc.positionOf(n);
      return { id: n.id, x, y };
    }));
    // Failures many nodes lead to (one `failed` end) are drawn as a badge at each exit rather
    // than as edges across the canvas, unless all edges are asked for: a node's failures into
    // one node are one badge under its exits' names, wired to each.
    const failures = {};
    for (const e of doc.edges()) {
      if (FAILURE_EXITS.has(e.exit)) failures[e.to] = (failures[e.to] || 0) + 1;
    }
    const badges = {};
    const drawn = [];
    doc.edges().forEach((e, index) => {
      const from = doc.node(e.from);
      const to = doc.node(e.to);
      if (!from || !to) return;
      const exit = e.exit || 'ok';
      const bundled = !this.allEdges && FAILURE_EXITS.has(exit) && failures[e.to] >= BUNDLE_FROM;
      const edge = { e, index, from, to, exit, start: this.#handlePoint(from, exit) };
      if (!bundled) {
        drawn.push(edge);
        return;
      }
      const badge = badges[`${e.from}\n${e.to}`] || (badges[`${e.from}\n${e.to}`] = { to, edges: [] });
      badge.edges.push(edge);
    });
    const shapes = [];
    const stacked = {}; // node → its badges so far: the next one hangs below them
    for (const { to, edges } of Object.values(badges)) {
      const text = `→ ${to.title || to.id}`;
      const width = 6.5 * text.length + 10;
      const xs = edges.map((edge) => edge.start[0]);
      const x = xs.reduce((a, b) => a + b, 0) / xs.length;
      const below = (stacked[edges[0].e.from] = (stacked[edges[0].e.from] ?? -1) + 1);
      const y = edges[0].start[1] + BADGE_DROP + 18 * below;
      router.reserve(edges[0].e.from, { l: x - width / 2, t: y, r: x + width / 2, b: y + 16 });
      edges.forEach((edge, i) => {
        const [hx, hy] = edge.start;
        const stub = `M${hx},${hy} L${hx},${hy + 6} L${x},${y}`;
        shapes.push({ edge, badge: { stub, box: i === 0 ? { x, y, width, text } : null } });
      });
    }
    for (const edge of drawn) {
      const [tx, ty] = doc.positionOf(edge.to);
      const { d, points } = router.route(edge.e.from, edge.e.to, edge.start, [tx + W / 2, ty]);
      // Where there is no room, an exit whose name shows in full under its handle goes unsaid.
      const full = shortName(doc.exitsOf(edge.from), edge.exit) === edge.exit;
      shapes.push({ edge, d, label: router.label(edge.exit, points, full) });
    }
    this.#shapesKey = key;
    this.#shapes = shapes;
    return shapes;
  }

  // The group an edge is drawn in: its classes (selected, invalid, taken by the last run),
  // what it joins, and a click that selects it.
  #edgeGroup({ e, index, exit }, extra) {
    const doc = this.#doc;
    const selected = doc.selected?.edge === index;
    const bad = doc.diagnostics.some((d) => d.pointer === `/edges/${index}` || d.pointer.startsWith(`/edges/${index}/`));
    const taken = this.#lastRun(e.from)?.taken?.has(exit);
    const classes = ['edge', selected && 'selected', bad && 'bad', taken && 'taken', ...extra].filter(Boolean);
    const g = svg('g', { class: classes.join(' '), 'data-from': e.from, 'data-exit': exit, 'data-to': e.to });
    g.addEventListener('pointerdown', (ev) => { ev.stopPropagation(); doc.select({ edge: index }); });
    return g;
  }

  #handlePoint(node, exit) {
    const [x, y] = this.#doc.positionOf(node);
    const list = this.#doc.exitsOf(node);
    const i = Math.max(0, list.indexOf(exit));
    return [x + ((i + 1) * W) / (list.length + 1), y + H];
  }

  #toWorld(ev) {
    const rect = $('canvas').getBoundingClientRect();
    const v = this.#view;
    return [(ev.clientX - rect.left - v.x) / v.k, (ev.clientY - rect.top - v.y) / v.k];
  }

  // Follows the pointer that `ev` pressed until it is released.
  #track(ev, onMove, onUp) {
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

  // A node pressed: Shift adds it to the selection or takes it out; else it is dragged, with
  // the other selected nodes when it is one of them (a click without a drag selects it alone).
  #startMove(ev, id) {
    if (ev.button !== 0) return;
    ev.stopPropagation();
    const doc = this.#doc;
    if (ev.shiftKey) {
      doc.toggle(id);
      return;
    }
    const ids = doc.selectedIds().includes(id) ? doc.selectedIds() : [id];
    if (ids.length === 1) doc.select({ node: id });
    const before = doc.checkpoint();
    const [sx, sy] = this.#toWorld(ev);
    const from = ids.map((n) => [n, doc.positionOf(doc.node(n))]);
    let moved = false;
    this.#track(ev, (e) => {
      const [wx, wy] = this.#toWorld(e);
      const [dx, dy] = [Math.round(wx - sx), Math.round(wy - sy)];
      if (!moved && Math.abs(dx) < 2 && Math.abs(dy) < 2) return;
      moved = true;
      for (const [n, [ox, oy]] of from) doc.place(n, [ox + dx, oy + dy]);
      this.render();
    }, () => {
      if (moved) doc.recordSince(before);
      // A click (no drag) on one of several selected nodes selects it alone.
      else if (ids.length > 1) doc.select({ node: id });
    });
  }

  #startConnect(ev, id, exit) {
    if (ev.button !== 0) return;
    ev.stopPropagation();
    const start = this.#handlePoint(this.#doc.node(id), exit);
    const rubber = $('rubber');
    this.#track(ev, (e) => {
      rubber.setAttribute('d', curve(start, this.#toWorld(e)).d);
    }, (e) => {
      rubber.setAttribute('d', '');
      const [wx, wy] = this.#toWorld(e);
      const target = this.#doc.nodes().find((n) => {
        const [x, y] = this.#doc.positionOf(n);
        return wx >= x && wx <= x + W && wy >= y && wy <= y + H;
      });
      if (target) this.#doc.connect(id, exit, target.id);
    });
  }

  // The background pressed: Shift draws a rectangle that selects the nodes it holds; else the
  // view pans.
  #startPan(ev) {
    if (ev.button !== 0) return;
    if (ev.shiftKey) {
      this.#startLasso(ev);
      return;
    }
    this.#doc.select(null);
    const { x, y } = this.#view;
    const sx = ev.clientX;
    const sy = ev.clientY;
    $('canvas').classList.add('panning');
    this.#track(ev, (e) => {
      this.#view.x = x + e.clientX - sx;
      this.#view.y = y + e.clientY - sy;
      this.#applyView();
    }, () => $('canvas').classList.remove('panning'));
  }

  #startLasso(ev) {
    const doc = this.#doc;
    const [sx, sy] = this.#toWorld(ev);
    const rubber = $('rubber');
    let box = [sx, sy, sx, sy];
    this.#track(ev, (e) => {
      const [wx, wy] = this.#toWorld(e);
      box = [Math.min(sx, wx), Math.min(sy, wy), Math.max(sx, wx), Math.max(sy, wy)];
      rubber.setAttribute('d', `M${box[0]},${box[1]} H${box[2]} V${box[3]} H${box[0]} Z`);
    }, () => {
      rubber.setAttribute('d', '');
      const [l, t, r, b] = box;
      const inside = doc.nodes().filter((n) => {
        const [x, y] = doc.positionOf(n);
        return x >= l && y >= t && x + W <= r && y + H <= b;
      });
      doc.selectNodes(inside.map((n) => n.id));
    });
  }

  #zoom(ev) {
    ev.preventDefault();
    const rect = $('canvas').getBoundingClientRect();
    const v = this.#view;
    const k = Math.min(3, Math.max(0.2, v.k * Math.exp(-ev.deltaY * 0.001)));
    const px = ev.clientX - rect.left;
    const py = ev.clientY - rect.top;
    v.x = px - ((px - v.x) * k) / v.k;
    v.y = py - ((py - v.y) * k) / v.k;
    v.k = k;
    this.#applyView();
  }
}
