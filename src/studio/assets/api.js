// The studio's HTTP API. Same origin only: the access token travels in the HttpOnly cookie
// set when the printed URL was opened (this page never sees it), and the browser adds this
// page's Origin to the calls that change something, which the server checks.

// One call: `{ status, data }`, `data` the answer's JSON (or `{ error: text }` when it is not
// JSON). Never throws: callers decide what a status means, and a server out of reach is
// status 0.
export async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  let text;
  try {
    response = await fetch(path, init);
    text = await response.text();
  } catch {
    return { status: 0, data: { error: 'the studio cannot be reached (was it stopped?)' } };
  }
  let data = null;
  try { data = JSON.parse(text); } catch { data = { error: text }; }
  return { status: response.status, data };
}

// The address of the flow `file`, or of something of it (`runs`, `tests`, `profiles?…`).
export function flowUrl(file, tail) {
  const url = `/api/flows/${encodeURIComponent(file)}`;
  return tail ? `${url}/${tail}` : url;
}
