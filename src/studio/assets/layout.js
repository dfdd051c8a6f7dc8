// A layered layout of the flow (Sugiyama's method, by dagre, vendored in `vendor/`): layers
// from the start down, crossings few, edges' labels given room, loops' back edges reversed
// for the layering only. Used for nodes that have no position, and by "Tidy up".

import { Graph, layout } from './vendor/dagre.esm.js';
import { FAILURE_EXITS } from './kinds.js';

// A node's box on the canvas, as in the server's drawing (`svg.rs`).
export const NODE_SIZE = [170, 52];

// `nodes`: `{ id }` with `start` first; `edges`: `{ from, to, exit }`. The top-left corner of
// each node (a box of `NODE_SIZE`), by id.
export function arrange(nodes, edges, start) {
  const [width, height] = NODE_SIZE;
  const g = new Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 60, ranksep: 70, edgesep: 24, marginx: 40, marginy: 40 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(nodes.map((n) => n.id));
  // The start first: dagre breaks ties in the order nodes come.
  const ordered = [...nodes].sort((a, b) => (a.id === start ? -1 : b.id === start ? 1 : 0));
  for (const n of ordered) g.setNode(n.id, { width, height });
  edges.forEach((e, i) => {
    if (!ids.has(e.from) || !ids.has(e.to)) return;
    const exit = e.exit || 'ok';
    // Failures don't pull the flow's main line sideways: many error edges to one end would
    // otherwise lay the steps out as a staircase.
    const weight = FAILURE_EXITS.has(exit) ? 0 : 2;
    // Room for the exit's label beside the edge.
    g.setEdge(e.from, e.to, { width: 7 * exit.length + 8, height: 14, labelpos: 'c', minlen: 1, weight }, `${i}`);
  });
  layout(g);
  const out = {};
  for (const id of g.nodes()) {
    const n = g.node(id);
    out[id] = [Math.round(n.x - width / 2), Math.round(n.y - height / 2)];
  }
  return out;
}
