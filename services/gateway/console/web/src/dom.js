// dom.js builds elements and formats values. Text always goes in as text nodes, never
// as HTML, so values from the API cannot inject markup.
import { t, lang } from './i18n.js';

// h creates an element: attrs sets properties (on*, class, dataset-free attributes),
// children are nodes, strings, numbers or arrays of them (null and false are skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// num reads a protojson number (int64 arrives as a string; absent means zero).
export const num = (v) => (v === undefined || v === null || v === '' ? 0 : Number(v));

const locale = () => (lang() === 'zh' ? 'zh-CN' : 'en-GB');

export function fmtInt(v) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: 0 }).format(num(v));
}

export function fmtNum(v, digits = 2) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(num(v));
}

// fmtMoney formats an amount in minor units of currency (2 decimals except JPY/KRW).
export function fmtMoney(minor, currency) {
  const cur = currency || 'CNY';
  const digits = cur === 'JPY' || cur === 'KRW' ? 0 : 2;
  try {
    return new Intl.NumberFormat(locale(), { style: 'currency', currency: cur, maximumFractionDigits: digits })
      .format(num(minor) / 10 ** digits);
  } catch {
    return (num(minor) / 10 ** digits).toFixed(digits) + ' ' + cur;
  }
}

// fmtPct formats a fraction (0.25) as a percentage.
export function fmtPct(fraction, digits = 1) {
  return new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: digits }).format(num(fraction));
}

export function fmtTime(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleString(locale(), { dateStyle: 'medium', timeStyle: 'short' });
}

export function fmtDate(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toLocaleDateString(locale(), { dateStyle: 'medium' });
}

// table renders rows as a table; columns are [label, row => cell, {num: true}?].
export function table(columns, rows, attrs) {
  if (!rows || rows.length === 0) return h('p', { class: 'muted' }, t('common.empty'));
  return h('div', { class: 'table-wrap' },
    h('table', attrs || {},
      h('thead', {}, h('tr', {}, columns.map(([label, , o]) => h('th', { class: o && o.num ? 'num' : '' }, label)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, columns.map(([, cell, o]) => h('td', { class: o && o.num ? 'num' : '' }, cell(r))))))));
}

// card is a titled panel.
export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...children);
}

// kpi is one headline figure.
export function kpi(label, value, note, id) {
  return h('div', { class: 'kpi', id }, h('div', { class: 'kpi-label' }, label), h('div', { class: 'kpi-value' }, value),
    note ? h('div', { class: 'kpi-note' }, note) : null);
}

// errorBox shows a failed call in place of what it would have filled.
export function errorBox(err) {
  const status = err && err.status ? ' (' + err.status + ')' : '';
  return h('div', { class: 'error', role: 'alert' }, t('common.error') + status + ': ' + (err && err.message ? err.message : String(err)));
}

// field is a labelled form control.
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', {}, label), control, hint ? h('small', { class: 'muted' }, hint) : null);
}

// select builds a <select> from [value, label] pairs.
export function select(attrs, options, selected) {
  return h('select', attrs, options.map(([v, l]) => h('option', { value: v, selected: v === selected }, l)));
}

// settle maps a promise to {ok, value} or {ok: false, error}, for pages that show what
// they could load next to what they could not.
export async function settle(p) {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

// yearMonth formats a Date as YYYY-MM (UTC).
export function yearMonth(d) {
  return d.toISOString().slice(0, 7);
}

// monthsBack returns YYYY-MM of the month n months before the current one (UTC).
export function monthsBack(n) {
  const d = new Date();
  return yearMonth(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - n, 1)));
}
