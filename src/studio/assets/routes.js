// Where edges and their labels go on the canvas. An edge runs from its exit's handle (a node's
// bottom) to the top of the node it leads to: a plain curve when nothing is in the way, else
// down a free lane beside the nodes between, so that no edge crosses a node; an edge back up (a
// loop's body returning to it) always takes a lane beside the nodes. Each label takes the first
// place along its edge where it covers no node, no exit's name, no badge and no other label.

import { NODE_SIZE } from './layout.js';

const [W, H] = NODE_SIZE;
// The room under a node that its exits' names take.
const EXIT_NAMES = 16;
// How far a lane keeps from a node, and where a route turns off and into its ends.
const CLEAR = 14;
const TURN = 22;
// How far apart lanes side by side are.
const LANE_GAP = 8;
// Where a route through a lane turns off below its exit and in above its target: `[down, up]`
// from each, best first.
const TURNS = [[TURN, TURN], [TURN + 9, TURN], [TURN + 18, TURN], [TURN, 10], [TURN + 9, 10],
  [TURN + 18, 10], [TURN + 27, TURN], [TURN + 36, TURN]];
// Where along an edge a label is tried, as fractions of its length, best first.
const LABEL_AT = [0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9];
// A label's height, and its width per character (11 px text).
const LABEL_H = 13;
const CHAR_W = 6.4;

// The plain curve from `[x1, y1]` down to `[x2, y2]`: `{ d, points }`.
export function curve([x1, y1], [x2, y2]) {
  const bend = Math.max(40, Math.abs(y2 - y1) / 2);
  const c = [[x1, y1], [x1, y1 + bend], [x2, y2 - bend], [x2, y2]];
  return { d: `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`, points: bezier(c) };
}

const overlaps = (a, b) => a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b;

export class Router {
  // What routes keep clear of: the nodes (with their exits' names) and the badges, each
  // `{ id (the node it belongs to), l, t, r, b }`.
  #boxes;
  #badges = [];
  // What labels keep clear of besides the nodes: the badges and the labels placed so far.
  #taken = [];
  // The vertical lanes and the horizontal tracks taken so far: `{ x, t, b }`, `{ y, l, r }`.
  #lanes = [];
  #tracks = [];

  // `nodes`: `{ id, x, y }`, each node's top-left corner.
  constructor(nodes) {
    this.#boxes = nodes.map(({ id, x, y }) => ({ id, l: x, t: y, r: x + W, b: y + H + EXIT_NAMES }));
  }

  // Keeps the box `{ l, t, r, b }` of node `id`'s badge free of routes and labels.
  reserve(id, box) {
    this.#badges.push({ id, badge: true, ...box });
    this.#taken.push(box);
  }

  // The route of an edge from node `from`'s exit at `[x1, y1]` to node `to`'s top at
  // `[x2, y2]`: `{ d, points }` (its path, and points along it for its label). The first route
  // that crosses nothing: the plain curve (clear of its own node's badges too); a step across
  // the gap between the two, halfway or just above the target; a lane beside what lies
  // between, turning off and in at one of a few heights; beside the routes before it rather
  // than on them when it can be; else the first lane.
  route(from, to, [x1, y1], [x2, y2]) {
    const back = y2 < y1 + CLEAR;
    if (!back && !this.#blocked(from, to, [x1, y1], [x2, y2])) {
      const plain = curve([x1, y1], [x2, y2]);
      const own = this.#badges.filter((n) => n.id === from);
      const through = ([x, y]) => own.some((n) => x > n.l && x < n.r && y > n.t && y < n.b);
      if (!plain.points.some(through)) return plain;
    }
    const tries = [];
    if (!back) {
      for (const ym of [(y1 + y2) / 2, y2 - 10]) tries.push([[x1, y1], [x1, ym], [x2, ym], [x2, y2]]);
    }
    for (const [down, up] of TURNS) {
      const [ya, yb] = [y1 + down, y2 - up];
      if (!back && ya > yb - 4) continue;
      const [top, bottom] = [Math.min(ya, yb), Math.max(ya, yb)];
      // An edge back up passes its own ends too.
      const band = [...this.#boxes, ...this.#badges]
        .filter((n) => (back || (n.id !== from && n.id !== to)) && n.b > top && n.t < bottom);
      const lane = this.#freeLane(band, x1, x2, top, bottom);
      tries.push([[x1, y1], [x1, ya], [lane, ya], [lane, yb], [x2, yb], [x2, y2]]);
    }
    const clear = tries.filter((p) => this.#clear(p, from, to));
    const points = clear.find((p) => !this.#alongTaken(p)) ?? clear[0]
      ?? tries.find((p) => p.length === 6) ?? tries[0];
    this.#take(points);
    return { d: rounded(points), points };
  }

  // Keeps the straight runs of `points` (but its first and last) for the routes that follow
  // to run beside rather than on.
  #take(points) {
    for (const { vertical, at, lo, hi } of innerRuns(points)) {
      if (vertical) this.#lanes.push({ x: at, t: lo, b: hi });
      else this.#tracks.push({ y: at, l: lo, r: hi });
    }
  }

  // Whether a straight run of `points` (but its first and last) lies on one taken before.
  #alongTaken(points) {
    return innerRuns(points).some(({ vertical, at, lo, hi }) => (vertical
      ? this.#lanes.some((l) => Math.abs(l.x - at) < LANE_GAP && l.t < hi && lo < l.b)
      : this.#tracks.some((t) => Math.abs(t.y - at) < LANE_GAP && t.l < hi && lo < t.r)));
  }

  // Whether the polyline through `points` crosses no node and no badge: its first segment
  // leaves `from` (through its exits' names and past its badge), its last enters `to`.
  #clear(points, from, to) {
    const last = points.length - 2;
    return points.slice(1).every(([x, y], i) => {
      const [px, py] = points[i];
      const seg = { l: Math.min(px, x) - 1, t: Math.min(py, y), r: Math.max(px, x) + 1, b: Math.max(py, y) };
      const mine = (n) => (i === 0 && n.id === from) || (i === last && n.id === to && !n.badge);
      return ![...this.#boxes, ...this.#badges].some((n) => !mine(n) && overlaps(seg, n));
    });
  }

  // Where `text` goes beside the edge through `points`: `[x, y]` of its start (the baseline's
  // left end), at the first free place, which it then takes; `null` when there is none and it
  // may be left out (`optional`), else the best place all the same.
  label(text, points, optional) {
    const width = CHAR_W * text.length + 2;
    const candidates = [];
    for (const f of LABEL_AT) {
      const [x, y] = along(points, f);
      candidates.push([x + 5, y + 4], [x - 5 - width, y + 4]);
    }
    const box = ([x, y]) => ({ l: x, t: y - LABEL_H + 2, r: x + width, b: y + 3 });
    let free = candidates.find((c) => {
      const b = box(c);
      return !this.#boxes.some((n) => overlaps(b, n)) && !this.#taken.some((t) => overlaps(b, t));
    });
    if (!free && optional) return null;
    free ??= candidates[0];
    this.#taken.push(box(free));
    return free;
  }

  // The x of a vertical lane from `top` to `bottom` clear of every box of `band`, nearest to
  // both ends, and beside the lanes taken rather than on them.
  #freeLane(band, x1, x2, top, bottom) {
    const clear = (x) => band.every((n) => x <= n.l - CLEAR + 1 || x >= n.r + CLEAR - 1);
    const shared = (x) => this.#lanes.some((l) => Math.abs(l.x - x) < LANE_GAP && l.t < bottom && top < l.b);
    const sides = band.flatMap((n) => [0, 1, 2, 3].flatMap((k) => [n.l - CLEAR - k * LANE_GAP, n.r + CLEAR + k * LANE_GAP]));
    const candidates = [x1, x2, ...sides].filter(clear);
    const cost = (x) => Math.abs(x - x1) + Math.abs(x - x2) + (shared(x) ? 1000 : 0);
    return candidates.reduce((best, x) => (cost(x) < cost(best) ? x : best), candidates[0] ?? x1);
  }

  // Whether a node other than the ends, or another node's badge, lies in the way of the plain
  // curve (its own badges are checked against the curve itself).
  #blocked(from, to, [x1, y1], [x2, y2]) {
    const way = { l: Math.min(x1, x2) - CLEAR, t: y1, r: Math.max(x1, x2) + CLEAR, b: y2 };
    return [...this.#boxes, ...this.#badges].some((n) => n.id !== from && n.id !== to && overlaps(way, n));
  }
}

// The straight runs of the polyline `points` but its first and last (which leave and enter the
// nodes): `{ vertical, at, lo, hi }`, at `x = at` from `y = lo` to `hi` when vertical, else at
// `y = at` from `x = lo` to `hi`.
function innerRuns(points) {
  const runs = [];
  for (let i = 2; i < points.length - 1; i++) {
    const [[px, py], [x, y]] = [points[i - 1], points[i]];
    const vertical = px === x;
    const [a, b] = vertical ? [py, y] : [px, x];
    runs.push({ vertical, at: vertical ? x : y, lo: Math.min(a, b), hi: Math.max(a, b) });
  }
  return runs;
}

// A polyline through `points` with its corners rounded.
function rounded(points, radius = 10) {
  let d = `M${points[0][0]},${points[0][1]}`;
  for (let i = 1; i < points.length - 1; i++) {
    const [p, c, n] = [points[i - 1], points[i], points[i + 1]];
    const r = Math.min(radius, dist(p, c) / 2, dist(c, n) / 2);
    const a = toward(c, p, r);
    const b = toward(c, n, r);
    d += ` L${a[0]},${a[1]} Q${c[0]},${c[1]} ${b[0]},${b[1]}`;
  }
  const last = points[points.length - 1];
  return `${d} L${last[0]},${last[1]}`;
}

const dist = ([ax, ay], [bx, by]) => Math.hypot(bx - ax, by - ay);

// The point `r` from `from` toward `to`.
function toward(from, to, r) {
  const len = dist(from, to) || 1;
  return [from[0] + ((to[0] - from[0]) * r) / len, from[1] + ((to[1] - from[1]) * r) / len];
}

// Points along the cubic curve with control points `c`.
function bezier(c) {
  const out = [];
  for (let i = 0; i <= 16; i++) {
    const t = i / 16;
    const u = 1 - t;
    const k = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
    out.push([0, 1].map((axis) => k.reduce((s, w, j) => s + w * c[j][axis], 0)));
  }
  return out;
}

// The point at fraction `f` of the length of the polyline through `points`.
function along(points, f) {
  const lengths = points.slice(1).map((p, i) => dist(points[i], p));
  let rest = f * lengths.reduce((a, b) => a + b, 0);
  for (let i = 0; i < lengths.length; i++) {
    if (rest <= lengths[i] && lengths[i] > 0) return toward(points[i], points[i + 1], rest);
    rest -= lengths[i];
  }
  return points[points.length - 1];
}
