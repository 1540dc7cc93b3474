// User 360: one user's profile, predictions with the per-feature explanation of each
// score, recommendations with their reasons, and the CRM timeline, orders, answers and
// campaigns. Each part shows its own error if its service cannot answer.
import { get, post, query, enc } from '../api.js';
import { h, card, kpi, num, fmtInt, fmtNum, fmtMoney, fmtPct, fmtTime, fmtDate, table, errorBox, settle } from '../dom.js';
import { chart } from '../charts.js';
import { t } from '../i18n.js';

const models = ['MODEL_PURCHASE_PROPENSITY', 'MODEL_CHURN_RISK', 'MODEL_LIFETIME_VALUE'];

export async function render(root, args) {
  const input = h('input', { id: 'user-id', value: args[0] || '', placeholder: t('users.placeholder'), required: true });
  root.append(h('form', {
    class: 'toolbar',
    onsubmit: (ev) => {
      ev.preventDefault();
      location.hash = '#/users/' + enc(input.value.trim());
    },
  }, input, h('button', { id: 'user-open', type: 'submit', class: 'primary' }, t('users.open'))));
  if (!args[0]) {
    await someUsers(root);
    return;
  }
  await show(root, args[0]);
}

// someUsers lists a few users to start from: a preview of a rule every buyer matches.
async function someUsers(root) {
  const r = await settle(post('/admin/segments:preview', { rule: 'p.aggregates.lifetime.orders > 0', sample_size: 30 }));
  root.append(card(t('users.some'), r.ok ?
    h('div', { class: 'chips', id: 'user-samples' }, (r.value.sample || []).map((u) => h('a', { class: 'chip', href: '#/users/' + enc(u) }, u))) :
    errorBox(r.error)));
}

async function show(root, id) {
  const u = enc(id);
  const [cust, prof, pred, recs, ...expl] = await Promise.all([
    settle(get('/admin/customers/' + u + '?interactions_limit=100')),
    settle(get('/users/' + u + '/profile')),
    settle(get('/users/' + u + '/predictions')),
    settle(get('/users/' + u + '/recommendations' + query({ scene: 'SCENE_HOME', n: 10 }))),
    ...models.map((m) => settle(get('/users/' + u + '/predictions/' + m + ':explain'))),
  ]);
  if (!prof.ok && !cust.ok) {
    root.append(errorBox(prof.error));
    return;
  }
  const p = prof.ok ? prof.value : (cust.value.profile || {});
  root.append(h('div', { class: 'kpis', id: 'user-summary' },
    kpi(t('users.user'), p.user_id || id),
    kpi(t('users.lifecycle'), (p.lifecycle || {}).stage || '—', t('users.daysInactive') + ' ' + fmtInt((p.lifecycle || {}).days_inactive)),
    kpi(t('users.rfm'), (p.rfm || {}).tier || '—', (p.rfm || {}).score || ''),
    kpi(t('users.valueTier'), p.value_tier || '—'),
    kpi(t('users.events'), fmtInt(p.events_total), t('users.lastSeen') + ' ' + fmtDate(p.last_seen)),
    cust.ok ? kpi(t('users.revenue'), fmtMoney(cust.value.revenue_minor, cust.value.currency), fmtInt(cust.value.orders) + ' ' + t('users.orders')) : null));

  root.append(h('div', { class: 'grid2' }, profileCard(p), predictionCard(pred, expl)));
  root.append(h('div', { class: 'grid2' }, recsCard(recs), timelineCard(cust)));
  if (cust.ok) root.append(h('div', { class: 'grid2' }, ordersCard(cust.value), answersCard(cust.value)));
}

function profileCard(p) {
  const d = p.demographics || {};
  const a = p.aggregates || {};
  const windows = [['d7', '7d'], ['d30', '30d'], ['d90', '90d'], ['lifetime', t('users.lifetime')]];
  const interests = Object.entries((p.interests || {}).categories || {}).sort((x, y) => y[1] - x[1]).slice(0, 8);
  return card(t('users.profile'),
    h('dl', { class: 'facts' },
      fact(t('users.demographics'), [d.age_band, d.gender, d.occupation, d.income_level, d.city_tier && 'city ' + d.city_tier].filter(Boolean).join(' · ') || '—'),
      fact(t('users.segments'), (p.segments || []).join(', ') || '—'),
      fact(t('users.cluster'), p.behaviour_cluster ? '#' + p.behaviour_cluster : '—'),
      fact(t('users.consent'), Object.entries(p.consent || {}).map(([k, v]) => k + (v ? ' ✓' : ' ✗')).join(', ') || '—'),
      fact(t('users.firstSeen'), fmtTime(p.first_seen))),
    table([
      [t('users.window'), (w) => w[1]],
      [t('users.views'), (w) => fmtInt((a[w[0]] || {}).views), { num: true }],
      [t('users.lessons'), (w) => fmtInt((a[w[0]] || {}).lessons_completed), { num: true }],
      [t('users.minutes'), (w) => fmtNum((a[w[0]] || {}).learning_minutes, 0), { num: true }],
      [t('users.orders'), (w) => fmtInt((a[w[0]] || {}).orders), { num: true }],
      [t('users.revenue'), (w) => fmtMoney((a[w[0]] || {}).revenue_minor, a.currency), { num: true }],
      [t('users.activeDays'), (w) => fmtInt((a[w[0]] || {}).active_days), { num: true }],
    ], windows),
    interests.length ? chart({
      grid: { left: 120, right: 20, top: 10, bottom: 20 },
      xAxis: { type: 'value' },
      yAxis: { type: 'category', data: interests.map(([k]) => k).reverse() },
      series: [{ type: 'bar', name: t('users.interests'), data: interests.map(([, v]) => Math.round(num(v) * 100) / 100).reverse() }],
    }, 200, 'user-interests') : null);
}

function fact(k, v) {
  return [h('dt', {}, k), h('dd', {}, v)];
}

function predictionCard(pred, expl) {
  const body = [];
  if (pred.ok) {
    const p = pred.value;
    // A score without a model version was never computed: show a dash, not a zero.
    const scored = (model) => Boolean((p.model_versions || {})[model]);
    body.push(h('div', { class: 'kpis' },
      kpi(t('users.propensity'), scored('purchase_propensity') ? fmtPct(p.purchase_propensity) : '—'),
      kpi(t('users.churn'), scored('churn_risk') ? fmtPct(p.churn_risk) : '—'),
      kpi(t('users.clv'), scored('lifetime_value') ? fmtMoney(p.clv_minor, p.currency) : '—'),
      kpi(t('users.alive'), scored('lifetime_value') ? fmtPct(p.p_alive) : '—')));
  } else {
    body.push(errorBox(pred.error));
  }
  expl.forEach((e, i) => {
    const title = t('users.model.' + models[i]);
    if (!e.ok) {
      body.push(h('h3', {}, title), errorBox(e.error));
      return;
    }
    const cs = [...(e.value.contributions || [])].sort((x, y) => Math.abs(num(y.contribution)) - Math.abs(num(x.contribution))).slice(0, 8).reverse();
    body.push(h('h3', {}, title + ' · ' + fmtNum(e.value.score, 3) + ' (' + t('users.base') + ' ' + fmtNum(e.value.base_value, 3) + ')'));
    if (cs.length === 0) {
      body.push(h('p', { class: 'muted' }, t('common.empty')));
      return;
    }
    body.push(chart({
      tooltip: { trigger: 'item', formatter: (q) => cs[q.dataIndex].text || (cs[q.dataIndex].feature + ' = ' + fmtNum(cs[q.dataIndex].value, 2)) },
      grid: { left: 170, right: 30, top: 5, bottom: 20 },
      xAxis: { type: 'value' },
      yAxis: { type: 'category', data: cs.map((c) => c.feature + ' = ' + fmtNum(c.value, 2)) },
      series: [{
        type: 'bar',
        data: cs.map((c) => ({ value: num(c.contribution), itemStyle: { color: num(c.contribution) >= 0 ? '#18a058' : '#d03050' } })),
      }],
    }, 40 + 26 * cs.length, 'explain-' + models[i]));
  });
  return card(t('users.predictions'), h('div', { id: 'user-predictions' }, body));
}

function recsCard(recs) {
  if (!recs.ok) return card(t('users.recommendations'), errorBox(recs.error));
  const r = recs.value;
  return card(t('users.recommendations'),
    h('p', { class: 'muted' }, t('users.source') + ' ' + (r.source || '—') + ' · ' + t('users.variant') + ' ' + (r.variant || '—') +
      (r.model_version ? ' · ' + r.model_version : '')),
    table([
      ['#', (x) => String(x.i + 1)],
      [t('users.item'), (x) => x.item_id],
      [t('users.score'), (x) => fmtNum(x.score, 3), { num: true }],
      [t('users.reason'), (x) => x.reason || ''],
    ], (r.items || []).map((x, i) => ({ ...x, i })), { id: 'user-recommendations' }));
}

function timelineCard(cust) {
  if (!cust.ok) return card(t('users.timeline'), errorBox(cust.error));
  const items = cust.value.interactions || [];
  return card(t('users.timeline'), items.length === 0 ? h('p', { class: 'muted' }, t('common.empty')) :
    h('ol', { class: 'timeline', id: 'user-timeline' }, items.map((it) => h('li', { class: 'kind-' + (it.kind || 'other') },
      h('time', {}, fmtTime(it.occurred_at)), ' ', h('strong', {}, it.event), ' ',
      h('span', { class: 'muted' }, [it.item_id, it.order_id, num(it.amount_minor) ? fmtMoney(it.amount_minor, it.currency) : '',
        num(it.value) ? fmtNum(it.value, 1) : '', it.campaign_id].filter(Boolean).join(' · '))))));
}

function ordersCard(c) {
  return card(t('users.recentOrders'), table([
    [t('users.order'), (o) => o.order_id],
    [t('users.when'), (o) => fmtTime(o.completed_at)],
    [t('users.revenue'), (o) => fmtMoney(o.revenue_minor, o.currency), { num: true }],
    [t('users.discount'), (o) => fmtMoney(o.discount_minor, o.currency), { num: true }],
    [t('users.refunded'), (o) => fmtMoney(o.refunded_minor, o.currency), { num: true }],
    [t('users.items'), (o) => (o.item_ids || []).join(', ')],
  ], c.recent_orders || []));
}

function answersCard(c) {
  return card(t('users.satisfaction'),
    table([
      [t('users.metric'), (a) => a.metric],
      [t('users.score'), (a) => String(num(a.score)), { num: true }],
      [t('users.when'), (a) => fmtTime(a.answered_at)],
      [t('users.item'), (a) => a.item_id || ''],
    ], c.satisfaction || []),
    h('h3', {}, t('users.campaigns')),
    table([
      [t('campaigns.id'), (x) => h('a', { href: '#/campaigns/' + enc(x.campaign_id) }, x.campaign_id)],
      [t('campaigns.arm'), (x) => x.arm],
      [t('users.when'), (x) => fmtTime(x.at)],
    ], c.campaigns || []),
    h('p', { class: 'muted' }, t('users.doNotContact') + ': ' + (c.do_not_contact ? t('common.yes') : t('common.no'))));
}
