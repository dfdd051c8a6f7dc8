// Weft Studio: the flow modeler. Plain ES modules, an SVG canvas, no build step. The server
// checks and stores; this page draws, edits and asks the server to validate and run.
// This module wires the others together: the header's buttons, the keyboard, the palette and
// the list of files, and which view redraws when the document changes.

import { api } from './api.js';
import { $, oncePerFrame, status } from './dom.js';
import { Kinds } from './kinds.js';
import { FlowDocument } from './document.js';
import { Canvas } from './canvas.js';
import { Panel } from './panels.js';
import { Runs } from './run.js';

async function start() {
  const [kinds, flows, settings] = await Promise.all([api('GET', '/api/kinds'), api('GET', '/api/flows'), api('GET', '/api/settings')]);
  if (kinds.status !== 200 || flows.status !== 200) {
    status(kinds.data.error || flows.data.error || 'cannot reach the server', true);
    return;
  }
  const catalogue = new Kinds(kinds.data.kinds);
  // The views are made below; the hooks only run once the document changes.
  const redraw = () => {
    canvas.render();
    $('undo').disabled = !doc.canUndo;
    $('redo').disabled = !doc.canRedo;
    $('delete').disabled = !doc.selected;
    $('tidy').disabled = !doc.flow;
    $('fit').disabled = !doc.flow;
    $('save').disabled = !doc.file;
    $('run').disabled = !doc.file;
    $('stop').disabled = !runs.running;
  };
  const doc = new FlowDocument(catalogue, {
    redraw,
    panel: () => panel.render(),
    analysed: () => {
      panel.showDiagnostics();
      panel.markFields();
      redraw();
    },
    problem: (message) => status(message, true),
  });
  const given = settings.status === 200 ? settings.data : undefined;
  const runs = new Runs({
    doc,
    settings: given,
    hooks: { redraw, redrawSoon: oncePerFrame(redraw), panel: () => panel.render(), footer: () => panel.showDiagnostics(), open: (file) => openLinked(file) },
  });
  const canvas = new Canvas({ doc, kinds: catalogue, lastRun: (id) => runs.nodeOf(id) });
  const panel = new Panel({ doc, kinds: catalogue, runs, settings: given, open: (file) => openLinked(file) });

  const palette = $('palette');
  for (const kind of catalogue.all()) {
    const b = document.createElement('button');
    const name = document.createElement('span');
    name.textContent = `${kind.glyph} ${kind.name}`;
    const about = document.createElement('small');
    about.textContent = kind.description;
    b.append(name, about);
    b.title = kind.description;
    b.dataset.kind = kind.name;
    b.onclick = () => { if (doc.flow) canvas.addNode(kind.name); };
    palette.append(b);
  }

  const select = $('flows');
  const addFlowOption = (file, name) => {
    const o = document.createElement('option');
    o.value = file;
    o.textContent = name ? `${name} (${file})` : file;
    select.append(o);
  };

  // Whether `file` is a flow of the folder (in the list).
  const isListed = (file) => [...select.options].some((o) => o.value === file);

  // Opens `file`, once the unsaved changes may be discarded (unless `force`); its address
  // replaces the page's in the browser's history, or with `push` is a new entry (Back returns).
  const openFlow = async (file, { force = false, push = false } = {}) => {
    if (!force && doc.dirty && !confirm('Discard the unsaved changes?')) {
      select.value = doc.file ?? '';
      return;
    }
    const url = `#${encodeURIComponent(file)}`;
    if (push) history.pushState(null, '', url);
    select.value = file;
    const refused = await doc.open(file);
    if (refused) {
      status(refused, true);
      return;
    }
    // Opened at a scale its names can be read at: a larger flow shows its start, and the
    // minimap the rest (Fit shows it all).
    canvas.fit(0.6);
    if (!push) history.replaceState(null, '', url);
    redraw();
    panel.render();
    status(`opened ${file}`);
  };

  // Opens a flow another one links to (the child a call node runs, or back to its parent) as a
  // new entry of the browser's history, so that Back returns.
  const openLinked = async (file) => {
    if (!isListed(file)) {
      status(`${file} is not a flow of this folder`, true);
      return;
    }
    if (file === doc.file) {
      redraw();
      panel.render();
      return;
    }
    await openFlow(file, { push: true });
  };
  // Back and Forward, and a `#file` typed into the address bar.
  window.addEventListener('popstate', () => {
    const file = decodeURIComponent(location.hash.slice(1));
    if (file && file !== doc.file && isListed(file)) openFlow(file);
  });

  const save = async () => {
    const outcome = await doc.save();
    if (!outcome) return;
    if (outcome.saved) {
      status(`saved ${doc.file}${outcome.valid ? '' : ' (with errors)'}`);
    } else if (outcome.conflict) {
      status(`not saved: ${outcome.error}`, true);
      $('reopen').hidden = false;
    } else {
      status(`not saved: ${outcome.error}`, true);
    }
  };

  // A new, empty flow; the file is created when it is first saved.
  const newFlow = () => {
    if (doc.dirty && !confirm('Discard the unsaved changes?')) return;
    const name = prompt('Name of the new flow (letters, digits, - and _):', 'my-flow');
    if (name === null) return;
    if (!/^[A-Za-z0-9_-]+$/.test(name)) {
      status(`\`${name}\` is not a usable name: letters, digits, - and _ only`, true);
      return;
    }
    const file = `${name}.flow.json`;
    if (isListed(file)) {
      status(`${file} exists already: pick it in the list`, true);
      return;
    }
    addFlowOption(file, name);
    select.value = file;
    doc.startNew(file, name);
    canvas.resetView();
    history.replaceState(null, '', `#${encodeURIComponent(file)}`);
    redraw();
    panel.render();
    status(`new flow ${file}: add nodes from the palette, then save`);
  };

  for (const f of flows.data.flows) addFlowOption(f.file, f.name);
  select.onchange = () => openFlow(select.value);
  $('undo').onclick = () => doc.undo();
  $('redo').onclick = () => doc.redo();
  $('delete').onclick = () => doc.deleteSelected();
  $('tidy').onclick = () => { doc.tidy(); canvas.fit(); };
  $('fit').onclick = () => canvas.fit();
  $('edges-all').onclick = () => {
    canvas.allEdges = !canvas.allEdges;
    $('edges-all').setAttribute('aria-pressed', String(canvas.allEdges));
    redraw();
  };
  $('save').onclick = save;
  $('new').onclick = newFlow;
  $('reopen').onclick = () => openFlow(doc.file, { force: true });
  $('run').onclick = () => runs.showForm();
  $('stop').onclick = () => runs.stop();
  // The nodes copied last (Ctrl+C), pasted as new nodes (Ctrl+V) in this flow or another.
  let copied = null;
  document.addEventListener('keydown', (ev) => {
    const typing = /INPUT|TEXTAREA|SELECT/.test(document.activeElement?.tagName || '');
    const mod = ev.ctrlKey || ev.metaKey;
    if (mod && ev.key === 's') { ev.preventDefault(); save(); }
    else if (typing) return;
    else if (mod && ev.key === 'z' && !ev.shiftKey) { ev.preventDefault(); doc.undo(); }
    else if (mod && (ev.key === 'y' || (ev.key === 'z' && ev.shiftKey))) { ev.preventDefault(); doc.redo(); }
    else if (mod && ev.key === 'c' && doc.selectedIds().length) copied = doc.copySelection();
    else if (mod && ev.key === 'v' && copied && doc.flow) { ev.preventDefault(); doc.paste(copied); }
    else if (mod && ev.key === 'd' && doc.selectedIds().length) { ev.preventDefault(); doc.paste(doc.copySelection()); }
    else if (ev.key === 'Delete' || ev.key === 'Backspace') doc.deleteSelected();
  });
  window.addEventListener('beforeunload', (ev) => { if (doc.dirty) ev.preventDefault(); });
  const wanted = decodeURIComponent(location.hash.slice(1));
  const first = flows.data.flows.find((f) => f.file === wanted) || flows.data.flows[0];
  if (first) {
    await openFlow(first.file);
  } else {
    status('no *.flow.json files in this directory');
  }
  document.body.dataset.ready = 'true';
}

start();
