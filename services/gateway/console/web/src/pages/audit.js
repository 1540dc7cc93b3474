// Audit: the gateway's log of admin actions, newest first — who (the key), what (the
// method and its target), when and how it ended — filtered by key and read a page at a
// time.
import { get, query } from '../api.js';
import { h, card, fmtTime, table, errorBox, field } from '../dom.js';
import { t } from '../i18n.js';

const pageSize = 100;

export async function render(root, args) {
  const keyID = args[0] || '';
  const filter = h('input', { id: 'audit-key', value: keyID, autocomplete: 'off', placeholder: t('audit.allKeys') });
  const apply = h('button', { id: 'audit-apply', type: 'submit' }, t('audit.filter'));
  const form = h('form', { class: 'toolbar', onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = '#/audit' + (filter.value.trim() ? '/' + encodeURIComponent(filter.value.trim()) : '');
  } }, field(t('audit.key'), filter), apply);
  const rows = [];
  const body = h('div', { id: 'audit-list' });
  const more = h('button', { id: 'audit-more', hidden: true }, t('audit.more'));
  let token = '';
  const load = async () => {
    const r = await get('/admin/audit' + query({ page_size: pageSize, page_token: token, key_id: keyID }));
    rows.push(...(r.entries || []));
    token = r.next_page_token || '';
    more.hidden = !token;
    body.replaceChildren(table([
      [t('audit.at'), (e) => fmtTime(e.at)],
      [t('audit.key'), (e) => h('code', {}, e.key_id || '—')],
      [t('audit.action'), (e) => h('span', { title: e.method }, shortMethod(e.method))],
      [t('audit.target'), (e) => e.target || ''],
      [t('audit.code'), (e) => h('span', { class: e.code === 'OK' ? 'ok-text' : 'bad-text' }, e.code || '')],
      [t('audit.message'), (e) => e.message || ''],
    ], rows, { id: 'audit-table' }));
  };
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      await load();
    } catch (e) {
      body.append(errorBox(e));
    } finally {
      more.disabled = false;
    }
  });
  await load();
  root.append(form, card(t('audit.title'), h('p', { class: 'muted' }, t('audit.intro')), body, more));
}

// shortMethod turns /strata.gateway.v1.KeyService/CreateKey into KeyService.CreateKey.
function shortMethod(m) {
  const parts = String(m || '').split('/').filter(Boolean);
  if (parts.length < 2) return m || '';
  return parts[0].split('.').pop() + '.' + parts[1];
}
