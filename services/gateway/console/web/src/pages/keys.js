// Keys: the gateway's API keys — create one (its secret is shown once, here, and never
// again: the gateway keeps only a hash), list them and revoke one. Keys from
// configuration are listed but cannot be revoked through the API. Revoking asks for a
// second click on the same button rather than a browser dialog.
import { get, post, del, enc } from '../api.js';
import { h, card, num, fmtNum, fmtTime, table, errorBox, field } from '../dom.js';
import { t } from '../i18n.js';

const scopes = ['SCOPE_TRACK', 'SCOPE_READ_SELF', 'SCOPE_RECOMMEND', 'SCOPE_ADMIN'];

export async function render(root) {
  const list = h('div', { id: 'keys-list' });
  const created = h('div', { id: 'key-created', 'aria-live': 'polite' });
  root.append(h('div', { class: 'grid2 wide-left' },
    card(t('keys.list'), list),
    card(t('keys.new'), createForm(created, list), created)));
  await loadList(list);
}

function createForm(created, list) {
  const name = h('input', { id: 'key-name', required: true, maxlength: 100, autocomplete: 'off' });
  const boxes = scopes.map((s) => h('input', { type: 'checkbox', id: 'key-scope-' + s, value: s, checked: s === 'SCOPE_TRACK' }));
  const user = h('input', { id: 'key-user', maxlength: 256, autocomplete: 'off' });
  const rate = h('input', { id: 'key-rate', type: 'number', min: 0, step: 'any', value: '0' });
  const burst = h('input', { id: 'key-burst', type: 'number', min: 0, step: 1, value: '0' });
  const submit = h('button', { id: 'key-create', type: 'submit', class: 'primary' }, t('keys.create'));
  const onsubmit = async (ev) => {
    ev.preventDefault();
    const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
    if (chosen.length === 0) {
      created.replaceChildren(h('div', { class: 'error' }, t('keys.needScope')));
      return;
    }
    submit.disabled = true;
    try {
      const res = await post('/admin/keys', {
        name: name.value.trim(), scopes: chosen, user_id: user.value.trim(),
        rate_per_second: num(rate.value), rate_burst: Math.trunc(num(burst.value)),
      });
      // The secret exists only in this answer: show it once, never store it.
      created.replaceChildren(h('div', { class: 'ok' },
        h('p', {}, h('strong', {}, t('keys.createdKey') + ' '), h('code', { id: 'key-created-id' }, res.key.key_id)),
        h('p', {}, t('keys.secretOnce')),
        h('code', { id: 'key-secret', class: 'secret' }, res.secret)));
      name.value = '';
      await loadList(list);
    } catch (e) {
      created.replaceChildren(errorBox(e));
    } finally {
      submit.disabled = false;
    }
  };
  return h('form', { id: 'key-form', onsubmit },
    field(t('keys.name'), name),
    h('div', { class: 'field' }, h('span', {}, t('keys.scopes')),
      boxes.map((b) => h('label', { class: 'check' }, b, ' ', t('keys.scope.' + b.value)))),
    field(t('keys.user'), user, t('keys.userHint')),
    field(t('keys.rate'), rate, t('keys.defaultHint')),
    field(t('keys.burst'), burst, t('keys.defaultHint')),
    submit);
}

async function loadList(list) {
  const r = await get('/admin/keys');
  const keys = r.keys || [];
  list.replaceChildren(table([
    [t('keys.id'), (k) => h('code', {}, k.key_id)],
    [t('keys.name'), (k) => k.name || ''],
    [t('keys.scopes'), (k) => (k.scopes || []).map((s) => t('keys.scope.' + s)).join(', ')],
    [t('keys.user'), (k) => k.user_id || '—'],
    [t('keys.rateShort'), (k) => (num(k.rate_per_second) ? fmtNum(k.rate_per_second) + '/s · ' + num(k.rate_burst) : t('keys.default')), { num: true }],
    [t('keys.created'), (k) => (k.configured ? t('keys.configured') : fmtTime(k.created_at))],
    [t('keys.state'), (k) => h('span', { class: 'key-state', id: 'key-state-' + k.key_id, 'data-state': k.revoked_at ? 'revoked' : 'active' },
      k.revoked_at ? t('keys.revoked') + ' ' + fmtTime(k.revoked_at) : t('keys.active'))],
    ['', (k) => (k.configured || k.revoked_at ? '' : revokeButton(k, list))],
  ], keys, { id: 'keys-table' }));
}

function revokeButton(k, list) {
  const b = h('button', { class: 'link danger', id: 'key-revoke-' + k.key_id }, t('keys.revoke'));
  b.addEventListener('click', async () => {
    if (!b.dataset.armed) {
      b.dataset.armed = 'true';
      b.textContent = t('keys.confirmRevoke');
      return;
    }
    b.disabled = true;
    try {
      await del('/admin/keys/' + enc(k.key_id));
      await loadList(list);
    } catch (e) {
      b.replaceWith(errorBox(e));
    }
  });
  return b;
}
