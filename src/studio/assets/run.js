// Runs of the saved flow: the profiles it uses and whether they resolve, the run form
// (parameters, limits), the run's live trace over server-sent events, and what each node did
// (exit, time, output, HTTP requests, and its input, asked of the server on a click).

import { api, flowUrl } from './api.js';
import { $, label, pre, status } from './dom.js';
import { FAILURE_EXITS } from './kinds.js';

// What the run form starts with when the server doesn't say.
const DEFAULT_SETTINGS = { profiles: null, params: {}, sim: null, max_steps: 10000 };

// Whether a node's last run failed: it failed, was cut short or took an error exit.
export const failedRun = (n) => !!n.error || n.stopped || FAILURE_EXITS.has(n.exit);

// A node's last run in a few words, for the drawing.
export function runLine(n) {
  if (n.state === 'running') return n.count > 1 ? `running… (×${n.count})` : 'running…';
  if (n.stopped) return '✗ cut short';
  const exit = n.exit ?? 'end';
  return `→ ${exit} · ${n.ms} ms${n.count > 1 ? ` · ×${n.count}` : ''}`;
}

function pretty(value, limit = 200000) {
  const text = JSON.stringify(value, null, 2) ?? 'null';
  return text.length > limit ? `${text.slice(0, limit)}\n… (${text.length - limit} more characters)` : text;
}

export class Runs {
  #doc;
  #hooks;
  #settings;
  #profilesFile;
  // The last run: { id, file, status, nodes: { id: { state, exit, ms, error, writes, http,
  // count, taken } }, report, source, trace (its run id in its trace), children, record (for a
  // stored run drawn from the history: its record; it has no `id`) }. `children`:
  // the runs its `call` nodes started, and theirs, by run id: { id, caller (the calling run's
  // id), node (the call node), status, nodes, ms }, in the order they started.
  #run = null;
  // The child run drawn on the canvas when its flow's file is open: { child, file }.
  #shown = null;
  #params = {}; // file → { parameter: text in the form }
  #limits = { max_steps: '', timeout_secs: '' };

  // `settings`: the server's (`GET /api/settings`), if it answered. `hooks`: `redraw()`,
  // `redrawSoon()` (once per frame), `panel()` (the side panel), `footer()` (the diagnostics),
  // `open(file)` (opens another flow of the folder).
  constructor({ doc, settings, hooks }) {
    this.#doc = doc;
    this.#settings = settings || DEFAULT_SETTINGS;
    this.#profilesFile = this.#settings.profiles || null;
    this.#hooks = hooks;
  }

  get running() {
    return this.#run?.status === 'running';
  }

  // What the last run of the open file did at node `id`, if it got there: the run's own
  // nodes, or, with a child's flow open, those of the child run chosen from its parent.
  nodeOf(id) {
    return this.#openRun()?.nodes[id];
  }

  // The run drawn for the open file: the last run, or the child run chosen in its flow.
  #openRun() {
    const run = this.#run;
    if (!run) return undefined;
    if (run.file === this.#doc.file) return run;
    const shown = this.#shown;
    return shown && shown.file === this.#doc.file ? shown.child : undefined;
  }

  // The value the last run of the open flow left at `expression` when it is a plain path
  // (`vars.page.body`): the latest write of its first variable by any node, followed along
  // the rest of the path; undefined when there is none.
  lastValue(expression) {
    const run = this.#openRun();
    const path = /^vars(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(expression || '') ? expression.split('.').slice(1) : null;
    if (!run || !path) return undefined;
    const writes = Object.values(run.nodes).map((n) => n.writes).filter((w) => w && path[0] in w);
    if (!writes.length) return undefined;
    return path.slice(1).reduce((v, key) => (v == null ? undefined : v[key]), writes[writes.length - 1][path[0]]);
  }

  // The child runs the call node `id` of the open flow started in the run drawn, listed with a
  // button each that opens `file` (the child's flow) with that child's run drawn on it.
  childSection(id, file) {
    const box = document.createElement('section');
    box.id = 'child-runs';
    const open = this.#openRun();
    const caller = open === this.#run ? open?.trace : open?.id;
    const children = Object.values(this.#run?.children || {}).filter((c) => c.caller === caller && c.node === id);
    if (!children.length) return box;
    const h = document.createElement('h2');
    h.textContent = `Child runs (${children.length})`;
    box.append(h);
    const list = document.createElement('ol');
    list.start = 0;
    for (const child of children) {
      const item = document.createElement('li');
      const b = document.createElement('button');
      b.className = 'child-run';
      b.textContent = `${child.status}${child.ms !== undefined ? ` · ${child.ms} ms` : ''}`;
      if (child.status === 'failed') b.classList.add('unresolved');
      b.title = `Open ${file} with this run drawn on it`;
      b.onclick = () => {
        this.#shown = { child, file };
        this.#hooks.open(file);
      };
      item.append(b);
      list.append(item);
    }
    box.append(list);
    const dropped = this.#run?.report?.dropped_events;
    if (dropped) box.append(label(`(the studio kept the first children's events: ${dropped} later events were not kept)`));
    return box;
  }

  // The run form sits in the flow's panel.
  showForm() {
    this.#doc.select(null);
    $('run-form')?.scrollIntoView({ block: 'start' });
  }

  // Lists the profiles the flow uses and whether they resolve from the chosen profiles file
  // (the server never sends a secret, only what is missing).
  profilesBox() {
    const box = document.createElement('div');
    box.id = 'profiles';
    this.#fillProfiles(box);
    return box;
  }

  async #fillProfiles(box) {
    const chosen = this.#profilesFile || 'profiles.json';
    const path = flowUrl(this.#doc.file, `profiles?profiles=${encodeURIComponent(chosen)}`);
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
    select.onchange = () => { this.#profilesFile = select.value; this.#fillProfiles(box); };
    box.append(select);
    for (const p of data.profiles) {
      const line = document.createElement('div');
      line.className = p.resolves ? 'resolves' : 'unresolved';
      line.textContent = p.resolves ? `✓ ${p.name}` : `✗ ${p.name}: ${p.error}`;
      box.append(line);
    }
  }

  // The parameters declared by the flow.
  #declared() {
    const params = this.#doc.flow.parameters;
    return params && typeof params === 'object' ? params : {};
  }

  // The form's parameters: declared defaults, then the studio's (the simulator's Graph), then
  // what was typed.
  #paramText(name, declared) {
    const typed = this.#params[this.#doc.file]?.[name];
    if (typed !== undefined) return typed;
    const given = this.#settings.params?.[name] ?? declared?.default;
    if (given === undefined || given === null) return '';
    return typeof given === 'string' ? given : JSON.stringify(given);
  }

  // The run form: parameters, limits, the start button, and the last run's outcome.
  formSection() {
    const file = this.#doc.file;
    const box = document.createElement('section');
    box.id = 'run-form';
    const h = document.createElement('h2');
    h.textContent = 'Run';
    box.append(h);
    if (this.#settings.sim) {
      const note = document.createElement('div');
      note.className = 'help';
      note.textContent = `The simulator runs at ${this.#settings.sim}; profiles.sim.json signs in to it.`;
      box.append(note);
    }
    const typed = this.#params[file] || (this.#params[file] = {});
    for (const [name, declared] of Object.entries(this.#declared())) {
      const type = declared?.type || 'string';
      const required = declared?.default === undefined && declared?.required !== false;
      box.append(label(`${name}${required ? ' *' : ''} (${type})`, declared?.description));
      let el;
      if (type === 'boolean') {
        el = document.createElement('input');
        el.type = 'checkbox';
        el.checked = this.#paramText(name, declared) === 'true';
        el.onchange = () => { typed[name] = String(el.checked); };
      } else {
        el = document.createElement(type === 'array' || type === 'object' ? 'textarea' : 'input');
        if (el.tagName === 'INPUT') el.type = type === 'integer' || type === 'number' ? 'number' : 'text';
        el.value = this.#paramText(name, declared);
        el.oninput = () => { typed[name] = el.value; };
      }
      el.dataset.param = name;
      box.append(el);
    }
    const limits = document.createElement('div');
    limits.className = 'row';
    for (const [key, text, placeholder] of [['max_steps', 'step limit', String(this.#settings.max_steps)], ['timeout_secs', 'timeout (s)', '120']]) {
      const cell = document.createElement('div');
      const el = document.createElement('input');
      el.type = 'number';
      el.id = `run-${key}`;
      el.placeholder = placeholder;
      el.value = this.#limits[key];
      el.oninput = () => { this.#limits[key] = el.value; };
      cell.append(label(text), el);
      limits.append(cell);
    }
    box.append(limits);
    const start = document.createElement('button');
    start.id = 'run-start';
    start.textContent = '▶ Start the run';
    start.disabled = this.running;
    start.onclick = () => this.start();
    box.append(start);
    const line = document.createElement('div');
    line.id = 'run-status';
    box.append(line);
    const run = this.#run;
    const open = this.#openRun();
    if (open && open !== run) {
      line.id = 'child-run-status';
      line.textContent = `Drawn: a child run of ${run.file} (its node ${open.node}), ${open.status}`;
      const back = document.createElement('button');
      back.id = 'child-run-parent';
      back.textContent = `Back to ${run.file}`;
      back.onclick = () => this.#hooks.open(run.file);
      box.append(back);
    } else if (open) {
      line.textContent = this.#statusText();
      line.className = run.status === 'failed' ? 'unresolved' : '';
      if (run.report) {
        box.append(label('result'));
        box.append(pre('run-result', pretty(run.report.result)));
        if (run.report.error) box.append(label('error'), pre('run-error', pretty(run.report.error)));
      }
    }
    return box;
  }

  #statusText() {
    const r = this.#run;
    if (r.status === 'running') return `running… (${Object.keys(r.nodes).length} nodes so far)`;
    const at = r.report?.node ? ` at ${r.report.node}` : '';
    const steps = r.report?.steps !== undefined ? `, ${r.report.steps} steps` : '';
    const dropped = r.report?.dropped_events ? ` (${r.report.dropped_events} later events not kept)` : '';
    return `${r.status}${at}${steps}${r.ms !== undefined ? `, ${r.ms} ms` : ''}${dropped}`;
  }

  // The form's values, typed by the declarations: empty fields are left out (defaults apply).
  #collectParams() {
    const params = {};
    for (const [name, d] of Object.entries(this.#declared())) {
      const text = this.#paramText(name, d);
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

  // Adds the limits typed in the form to a request's `body` (the defaults apply to the others).
  #addLimits(body) {
    for (const key of ['max_steps', 'timeout_secs']) if (this.#limits[key] !== '') body[key] = Number(this.#limits[key]);
  }

  // Starts a run of the saved file and follows its trace.
  async start() {
    const doc = this.#doc;
    if (!doc.file || !doc.version || doc.dirty) {
      status('Save the flow first: a run uses the saved file', true);
      return;
    }
    let params;
    try { params = this.#collectParams(); } catch (err) { status(err.message, true); return; }
    const body = { profiles: this.#profilesFile || this.#settings.profiles || 'profiles.json', params };
    this.#addLimits(body);
    const file = doc.file;
    const { status: code, data } = await api('POST', flowUrl(file, 'runs'), body);
    if (code !== 200) {
      status(`not run: ${data.error || code}`, true);
      if (data.diagnostics) {
        doc.setDiagnostics(data.diagnostics);
        this.#hooks.footer();
        this.#hooks.redraw();
      }
      return;
    }
    this.#follow(file, data);
  }

  // Resumes the stored run `id` (from the history) as the open file's live run: its stream
  // starts with what the run did before.
  async resume(id) {
    const file = this.#doc.file;
    const body = { file, profiles: this.#profilesFile || this.#settings.profiles || undefined };
    this.#addLimits(body);
    const { status: code, data } = await api('POST', `/api/history/${encodeURIComponent(id)}/resume`, body);
    if (code !== 200) {
      status(`not resumed: ${data.error || code}`, true);
      return;
    }
    this.#follow(file, data);
  }

  // Draws the stored run `data` (`GET /api/history/{id}`: its record and trace) as the last
  // run of the open file.
  showStored(data) {
    this.#run?.source?.close();
    const record = data.run;
    const run = { id: null, record, file: this.#doc.file, status: record.status, nodes: {}, report: null, children: {} };
    this.#run = run;
    this.#shown = null;
    for (const e of data.events) this.#onTrace(run, e);
    const report = { status: record.status, result: record.result, error: record.error, node: record.error?.node, steps: run.steps };
    if (data.dropped_events) report.dropped_events = data.dropped_events;
    if (record.status === 'running' || record.status === 'queued') {
      run.report = report;
      if (record.status === 'running') run.status = record.live ? 'running elsewhere' : 'interrupted';
    } else this.#ended(run, report);
    this.#hooks.redraw();
    this.#hooks.panel();
  }

  // Whether the open file's live run is the stored run `id` (its id in its trace).
  follows(id) {
    return this.running && this.#run.trace === id && this.#run.file === this.#doc.file;
  }

  // The record of the stored run drawn for the open file, if one from the history is.
  get drawnRecord() {
    const run = this.#run;
    return run?.record && run.file === this.#doc.file ? run.record : undefined;
  }

  // Follows the live run `data` (`{ run, events }`) of `file` over server-sent events.
  #follow(file, data) {
    this.#run?.source?.close();
    const run = { id: data.run, file, status: 'running', nodes: {}, report: null, children: {} };
    this.#run = run;
    this.#shown = null;
    const source = new EventSource(data.events);
    run.source = source;
    // Each connection, a reconnection too, streams the run from its beginning.
    source.addEventListener('open', () => Object.assign(run, { nodes: {}, children: {} }));
    source.addEventListener('trace', (ev) => this.#onTrace(run, JSON.parse(ev.data)));
    source.addEventListener('report', (ev) => {
      source.close();
      this.#ended(run, JSON.parse(ev.data));
      if (this.#run === run) {
        status(`run ${run.status}${run.report.node && run.status !== 'succeeded' ? ` at ${run.report.node}` : ''}`, run.status !== 'succeeded');
        this.#hooks.redraw();
        this.#hooks.panel();
      }
    });
    source.addEventListener('error', () => {
      // The browser reconnects by itself; a closed stream means the run is gone (the studio was
      // restarted, or a newer run of this flow replaced it): stop showing it as running.
      if (source.readyState !== EventSource.CLOSED || run.report) return;
      run.status = 'lost';
      if (this.#run === run) {
        status('the run is no longer available (was the studio restarted?)', true);
        this.#hooks.redraw();
        this.#hooks.panel();
      }
    });
    status(`running ${file}…`);
    this.#hooks.redraw();
    this.#hooks.panel();
  }

  // The run ended with `report`: a node (or child run) still running was cut short.
  #ended(run, report) {
    run.report = report;
    run.status = report.status;
    const children = Object.values(run.children);
    for (const child of children) if (child.status === 'running') child.status = 'cut short';
    for (const n of [run, ...children].flatMap((r) => Object.values(r.nodes))) {
      if (n.state !== 'running') continue;
      const message = report.dropped_events
        ? `the run went on, but its later events were past what the studio keeps (${report.dropped_events} not kept)`
        : run.status;
      Object.assign(n, { state: 'done', stopped: true, exit: undefined, ms: undefined, error: report.error ?? { message } });
    }
  }

  #onTrace(run, e) {
    if (e.event === 'run_started') {
      if (e.parent) {
        run.children[e.run] = { id: e.run, caller: e.parent.run, node: e.parent.node, status: 'running', nodes: {} };
      } else run.trace = e.run;
    }
    // The run the event is of: the run itself, or one of its children.
    const of = e.run === run.trace ? run : run.children[e.run];
    if (!of) return;
    const n = e.node !== undefined ? (of.nodes[e.node] || (of.nodes[e.node] = { count: 0, http: [], taken: new Set() })) : null;
    switch (e.event) {
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
        Object.assign(of, { ms: e.ms, steps: e.steps });
        if (of !== run) of.status = e.status;
        break;
      default:
        break;
    }
    if (this.#run !== run) return;
    this.#hooks.redrawSoon();
    // A child's end changes the list of child runs in its caller's panel.
    if (e.event === 'run_finished' && of !== run && this.#doc.selected?.node === of.node) this.#hooks.panel();
    // The open node's panel follows its node.
    if (n && this.#doc.selected?.node === e.node && e.event === 'node_finished') this.#hooks.panel();
  }

  async stop() {
    if (!this.running) return;
    await api('POST', `/api/runs/${this.#run.id}/stop`, {});
  }

  // What node `id` did in the last run (`n`, from `nodeOf`): its exit, error, output, HTTP
  // requests, and its input, asked of the server.
  nodeSection(id, n) {
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
    // The studio keeps the inputs of its live run's own nodes, not its children's nor a stored
    // run's.
    if (this.#openRun() !== this.#run || this.#run.record) return box;
    box.append(label('input', 'The variables when it started (redacted; large values cut)'));
    const input = pre('node-run-input', '…');
    box.append(input);
    api('GET', `/api/runs/${this.#run.id}/input/${encodeURIComponent(id)}`).then(({ status: code, data }) => {
      input.textContent = code === 200 ? pretty(data.vars) : data.error || String(code);
    });
    return box;
  }
}
