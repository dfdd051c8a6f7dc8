// A flow's run history, from the run store: its recent runs with status and time, newest
// first; one click draws a run's stored trace on the canvas as a live run is drawn, and the
// drawn run can be resumed (interrupted or failed) or cancelled (not over) from here.

import { api, flowUrl } from './api.js';
import { el, pre, status } from './dom.js';

const MARKS = { succeeded: '✓', failed: '✗', cancelled: '⊘', running: '…', queued: '…' };

// When `iso` was, as people say it: "today 14:03", "yesterday 09:12", "Monday 17:40", or the
// date for older runs.
export function when(iso, now = new Date()) {
  const t = new Date(iso);
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(now) - day(t)) / 86400000);
  const hm = t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (days === 0) return `today ${hm}`;
  if (days === 1) return `yesterday ${hm}`;
  if (days > 1 && days < 7) return `${t.toLocaleDateString([], { weekday: 'long' })} ${hm}`;
  return `${t.toLocaleDateString()} ${hm}`;
}

// How long a run took, from its record ('' while it runs).
function took(run) {
  if (!run.started_at || !run.finished_at) return '';
  const ms = new Date(run.finished_at) - new Date(run.started_at);
  return ms < 1000 ? ` · ${ms} ms` : ` · ${(ms / 1000).toFixed(1)} s`;
}

// A stored run's status as the history says it: one nobody holds any more is interrupted.
function statusOf(run) {
  return run.status === 'running' && !run.live ? 'interrupted' : run.status;
}

// The history section of the flow's panel: `runs` draws, resumes and knows the drawn run;
// `settings.store` says whether runs are kept at all.
export function historySection(doc, runs, settings) {
  const box = el('section', { id: 'history' });
  box.append(el('h2', { textContent: 'History' }));
  const help = (text) => box.append(el('div', { className: 'help', textContent: text }));
  if (!settings?.store) {
    help('Runs are not kept: the studio was started with --store none.');
    return box;
  }
  help(`Runs of this flow kept in ${settings.store}, newest first.`);
  const drawn = runs.drawnRecord;
  if (drawn) box.append(drawnLine(drawn, runs), pre('history-params', `parameters: ${JSON.stringify(drawn.params ?? {}, null, 2)}`));
  const list = el('ol', { id: 'history-runs' });
  box.append(list);
  fill(doc.file, list, runs);
  return box;
}

// The drawn stored run, with what can be done with it.
function drawnLine(run, runs) {
  const attempt = run.attempts > 1 ? ` (attempt ${run.attempts})` : '';
  const line = el('div', { id: 'history-drawn', title: run.id, textContent: `Drawn: the run of ${when(run.created_at)}, ${statusOf(run)}${attempt}` });
  if (run.resumable) {
    const b = el('button', { id: 'history-resume', textContent: run.status === 'failed' ? '↻ Run again from the failed node' : '▶ Resume' });
    b.onclick = () => runs.resume(run.id);
    line.append(' ', b);
  }
  if (run.cancellable) {
    const b = el('button', { id: 'history-cancel', textContent: '⊘ Cancel' });
    b.onclick = async () => {
      const { status: code, data } = await api('POST', `/api/history/${encodeURIComponent(run.id)}/cancel`, {});
      if (code !== 200) status(`not cancelled: ${data.error || code}`, true);
      else await open(run.id, runs);
    };
    line.append(' ', b);
  }
  return line;
}

// Lists the flow's runs in `list`, those older than run `before` when it is given, and a
// button for the older ones when there are more.
async function fill(file, list, runs, before) {
  const query = before ? `history?before=${encodeURIComponent(before)}` : 'history';
  const { status: code, data } = await api('GET', flowUrl(file, query));
  if (code !== 200) {
    list.replaceWith(el('div', { className: 'unresolved', textContent: data.error || String(code) }));
    return;
  }
  if (!data.runs.length && !before) {
    list.replaceWith(el('div', { className: 'help', textContent: `No run of ${data.flow} yet.` }));
    return;
  }
  for (const run of data.runs) {
    const shown = statusOf(run);
    const b = el('button', {
      className: shown === 'failed' || shown === 'interrupted' ? 'history-run unresolved' : 'history-run',
      textContent: `${MARKS[run.status] ?? ''} ${when(run.created_at)} · ${shown}${took(run)}`,
      title: `Draw run ${run.id} on the canvas`,
    });
    b.dataset.id = run.id;
    b.onclick = () => open(run.id, runs);
    const item = el('li');
    item.append(b);
    list.append(item);
  }
  if (data.more) {
    const item = el('li');
    const older = el('button', { id: 'history-older', textContent: 'Older runs…' });
    older.onclick = () => {
      item.remove();
      fill(file, list, runs, data.runs[data.runs.length - 1].id);
    };
    item.append(older);
    list.append(item);
  }
}

// Draws stored run `id` (unless it is the live run, drawn already).
async function open(id, runs) {
  if (runs.follows(id)) {
    status('this run is running here: it is drawn as it goes');
    return;
  }
  const { status: code, data } = await api('GET', `/api/history/${encodeURIComponent(id)}`);
  if (code !== 200) {
    status(`cannot open the run: ${data.error || code}`, true);
    return;
  }
  runs.showStored(data);
  status(`drawn: the run of ${when(data.run.created_at)}, ${statusOf(data.run)}`);
}
