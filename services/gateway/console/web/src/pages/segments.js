// Segments: the rule segments with their size and back-fill status, and a builder with a
// CEL editor whose rule is previewed live over the current profiles (count and sample)
// before it is saved.
import { get, post, del, enc } from '../api.js';
import { h, card, fmtInt, fmtTime, table, errorBox, field, num } from '../dom.js';
import { t } from '../i18n.js';

// Snippets are rule fragments over the profile p the builder inserts on a click.
const snippets = [
  'p.rfm.tier == "Champions"',
  'p.rfm.tier == "At Risk"',
  'p.lifecycle.stage == "at_risk"',
  'p.value_tier == "vip"',
  'p.aggregates.lifetime.orders >= 2',
  'p.aggregates.d30.learning_minutes > 60',
  'p.aggregates.d7.active_days >= 3',
  'p.predictions.purchase_propensity > 0.5',
  'p.predictions.churn_risk > 0.5',
  'p.demographics.city_tier == "1"',
  'p.behaviour_cluster == 1',
  '"tech" in p.interests.categories',
];

export async function render(root, args) {
  const list = h('div', { id: 'segment-list' });
  const members = h('div', { id: 'segment-members' });
  root.append(h('div', { class: 'grid2 wide-left' }, card(t('segments.list'), list, members), builder(() => loadList(list, members))));
  await loadList(list, members);
  if (args[0]) await showMembers(members, args[0]);
}

async function loadList(list, members) {
  let segs;
  try {
    segs = (await get('/admin/segments?page_size=1000')).segments || [];
  } catch (e) {
    list.replaceChildren(errorBox(e));
    return;
  }
  list.replaceChildren(table([
    [t('segments.id'), (s) => h('a', { href: '#/segments/' + enc(s.segment_id), onclick: (ev) => { ev.preventDefault(); showMembers(members, s.segment_id); } }, s.segment_id)],
    [t('segments.name'), (s) => s.name],
    [t('segments.size'), (s) => fmtInt(s.size), { num: true }],
    [t('segments.status'), (s) => t(s.status === 'SEGMENT_STATUS_READY' ? 'segments.ready' : 'segments.computing')],
    [t('segments.rule'), (s) => h('code', {}, s.rule)],
    ['', (s) => h('button', {
      class: 'link danger', onclick: async () => {
        if (!window.confirm(t('segments.confirmDelete') + ' ' + s.segment_id)) return;
        try {
          await del('/admin/segments/' + enc(s.segment_id));
          await loadList(list, members);
        } catch (e) {
          list.prepend(errorBox(e));
        }
      },
    }, t('common.delete'))],
  ], segs, { id: 'segments-table' }));
}

async function showMembers(box, id) {
  box.replaceChildren(h('p', { class: 'muted' }, t('common.loading')));
  try {
    const r = await get('/admin/segments/' + enc(id) + '/members?page_size=50');
    box.replaceChildren(h('h3', {}, t('segments.members') + ' · ' + id + ' (' + fmtInt(r.total) + ')'),
      h('div', { class: 'chips' }, (r.user_ids || []).map((u) => h('a', { class: 'chip', href: '#/users/' + enc(u) }, u))));
  } catch (e) {
    box.replaceChildren(errorBox(e));
  }
}

function builder(onSaved) {
  const id = h('input', { id: 'segment-id', placeholder: 'high-value-learners', pattern: '[a-z0-9][a-z0-9_-]*' });
  const name = h('input', { id: 'segment-name', required: true });
  const desc = h('input', { id: 'segment-description' });
  const rule = h('textarea', { id: 'segment-rule', class: 'code', rows: 6, spellcheck: 'false', placeholder: 'p.rfm.tier == "Champions" && p.predictions.churn_risk < 0.3' });
  const preview = h('div', { id: 'segment-preview', class: 'preview', 'aria-live': 'polite' }, h('span', { class: 'muted' }, t('segments.previewHint')));
  const saved = h('div', { id: 'segment-saved', 'aria-live': 'polite' });
  let timer = 0;
  let seq = 0;
  const runPreview = async () => {
    const text = rule.value.trim();
    const mine = ++seq;
    if (!text) {
      preview.replaceChildren(h('span', { class: 'muted' }, t('segments.previewHint')));
      return;
    }
    preview.dataset.state = 'loading';
    try {
      const r = await post('/admin/segments:preview', { rule: text, sample_size: 12 });
      if (mine !== seq) return;
      preview.dataset.state = 'ok';
      preview.replaceChildren(
        h('div', { class: 'preview-count' }, h('strong', { id: 'segment-preview-count' }, fmtInt(r.count)), ' ',
          t('segments.matching'), ' ', h('span', { class: 'muted' }, t('segments.of') + ' ' + fmtInt(r.scanned) + ' ' + t('segments.scanned'))),
        h('div', { class: 'chips' }, (r.sample || []).map((u) => h('a', { class: 'chip', href: '#/users/' + enc(u) }, u))));
      preview.dataset.count = String(num(r.count));
    } catch (e) {
      if (mine !== seq) return;
      preview.dataset.state = 'error';
      preview.replaceChildren(errorBox(e));
    }
  };
  rule.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(runPreview, 350);
  });
  const insert = (s) => {
    const v = rule.value.trim();
    rule.value = v ? v + ' && ' + s : s;
    rule.dispatchEvent(new Event('input'));
    rule.focus();
  };
  const save = h('button', { id: 'segment-save', type: 'submit', class: 'primary' }, t('segments.save'));
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      save.disabled = true;
      saved.replaceChildren();
      try {
        const s = await post('/admin/segments', { segment_id: id.value.trim(), name: name.value.trim(), description: desc.value.trim(), rule: rule.value.trim() });
        await onSaved();
        saved.replaceChildren(h('div', { class: 'ok' }, t('segments.saved') + ' ' + s.segment_id + ' · ' + fmtTime(s.created_at)));
        saved.dataset.segment = s.segment_id;
      } catch (e) {
        saved.replaceChildren(errorBox(e));
      } finally {
        save.disabled = false;
      }
    },
  },
  field(t('segments.id'), id, t('segments.idHint')),
  field(t('segments.name'), name),
  field(t('segments.description'), desc),
  field(t('segments.rule'), rule, t('segments.ruleHint')),
  h('div', { class: 'chips' }, snippets.map((s) => h('button', { type: 'button', class: 'chip code', onclick: () => insert(s) }, s))),
  preview,
  h('div', { class: 'toolbar' }, save),
  saved);
  return card(t('segments.builder'), form);
}
