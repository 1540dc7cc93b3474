// api.js calls the gateway's REST API with the API key the operator logged in with.
// The key lives in sessionStorage: it survives a reload but not the closing of the tab.

const keyName = 'strata.apiKey';

export function apiKey() {
  return sessionStorage.getItem(keyName) || '';
}

export function setAPIKey(key) {
  if (key) sessionStorage.setItem(keyName, key);
  else sessionStorage.removeItem(keyName);
}

// APIError carries the HTTP status and the google.rpc.Status message of a failed call.
export class APIError extends Error {
  constructor(status, message, details) {
    super(message);
    this.status = status;
    this.details = details || [];
  }
}

// onUnauthorized is called when the gateway refuses the key (401).
let unauthorized = () => {};
export function onUnauthorized(fn) {
  unauthorized = fn;
}

// call sends method path (under /api/v1) with an optional JSON body and returns the
// decoded JSON answer; it throws APIError for any non-2xx status.
export async function call(method, path, body) {
  const headers = { Authorization: 'Bearer ' + apiKey(), Accept: 'application/json' };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch('/api/v1' + path, init);
  } catch (e) {
    throw new APIError(0, String(e && e.message ? e.message : e));
  }
  const text = await resp.text();
  let data = {};
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { message: text };
    }
  }
  if (!resp.ok) {
    if (resp.status === 401) unauthorized();
    throw new APIError(resp.status, data.message || resp.statusText, data.details);
  }
  return data;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body || {});
export const del = (path) => call('DELETE', path);

// query builds a query string from the defined, non-empty values of params.
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

export const enc = encodeURIComponent;
