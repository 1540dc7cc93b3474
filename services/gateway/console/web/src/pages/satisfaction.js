// Satisfaction: NPS, CSAT, CES and ratings by a chosen dimension, and the follow-up
// tasks detractor answers opened.
import { get, query, enc } from '../api.js';
import { h, card, num, fmtInt, fmtNum, fmtTime, table, select, errorBox, settle } from '../dom.js';
import { chart } from '../charts.js';
import { t } from '../i18n.js';

const dims = ['MONTH', 'WEEK', 'DAY', 'OVERALL', 'RFM_TIER', 'SEGMENT', 'ITEM', 'CREATOR'];

export async function render(root, args) {
  const dim = dims.includes(args[0]) ? args[0] : 'MONTH';
  const sel = select({ id: 'satisfaction-dimension' }, dims.map((d) => [d, t('satisfaction.dim.' + d)]), dim);
  sel.addEventListener('change', () => { location.hash = '#/satisfaction/' + sel.value; });
  root.append(h('div', { class: 'toolbar' }, h('label', {}, t('satisfaction.by') + ' ', sel)));
  const [rep, tasks] = await Promise.all([
    settle(get('/admin/satisfaction' + query({ dimension: 'SATISFACTION_DIMENSION_' + dim }))),
    settle(get('/admin/follow-up-tasks?open_only=true&page_size=100')),
  ]);
  if (rep.ok) {
    let groups = rep.value.groups || [];
    if (dim === 'ITEM' || dim === 'CREATOR' || dim === 'SEGMENT') {
      groups = [...groups].sort((a, b) => num(b.nps_responses) + num(b.ratings) - num(a.nps_responses) - num(a.ratings)).slice(0, 30);
    }
    const keys = groups.map((g) => g.key || t('satisfaction.all'));
    root.append(card(t('satisfaction.scores'), groups.length === 0 ? h('p', { class: 'muted' }, t('common.empty')) : chart({
      legend: {},
      grid: { left: 50, right: 50, top: 40, bottom: 60 },
      xAxis: { type: 'category', data: keys, axisLabel: { rotate: keys.length > 8 ? 30 : 0 } },
      yAxis: [{ type: 'value', name: 'NPS / CSAT %', min: -100, max: 100 }, { type: 'value', name: 'CES / rating', min: 0, max: 7 }],
      series: [
        { name: 'NPS', type: 'bar', data: groups.map((g) => (num(g.nps_responses) ? round(g.nps) : null)) },
        { name: 'CSAT %', type: 'line', data: groups.map((g) => (num(g.csat_responses) ? round(g.csat) : null)) },
        { name: 'CES', type: 'line', yAxisIndex: 1, data: groups.map((g) => (num(g.ces_responses) ? round(g.ces) : null)) },
        { name: t('satisfaction.rating'), type: 'line', yAxisIndex: 1, data: groups.map((g) => (num(g.ratings) ? round(g.rating_mean) : null)) },
      ],
    }, 340, 'satisfaction-chart')),
    card(t('satisfaction.table'), table([
      [t('satisfaction.group'), (g) => g.key || t('satisfaction.all')],
      ['NPS', (g) => (num(g.nps_responses) ? fmtNum(g.nps, 1) : '—'), { num: true }],
      [t('satisfaction.promoters'), (g) => fmtInt(g.promoters) + ' / ' + fmtInt(g.passives) + ' / ' + fmtInt(g.detractors), { num: true }],
      ['CSAT', (g) => (num(g.csat_responses) ? fmtNum(g.csat, 1) + '%' : '—'), { num: true }],
      ['CES', (g) => (num(g.ces_responses) ? fmtNum(g.ces, 2) : '—'), { num: true }],
      [t('satisfaction.rating'), (g) => (num(g.ratings) ? fmtNum(g.rating_mean, 2) + ' (' + fmtInt(g.ratings) + ')' : '—'), { num: true }],
      [t('satisfaction.answers'), (g) => fmtInt(num(g.nps_responses) + num(g.csat_responses) + num(g.ces_responses)), { num: true }],
    ], groups, { id: 'satisfaction-table' })));
  } else {
    root.append(errorBox(rep.error));
  }
  root.append(card(t('satisfaction.tasks'), tasks.ok ? table([
    [t('satisfaction.user'), (x) => h('a', { href: '#/users/' + enc(x.user_id) }, x.user_id)],
    [t('satisfaction.reason'), (x) => x.reason],
    [t('users.score'), (x) => String(num(x.score)), { num: true }],
    [t('satisfaction.opened'), (x) => fmtTime(x.created_at)],
  ], tasks.value.tasks || [], { id: 'satisfaction-tasks' }) : errorBox(tasks.error)));
}

const round = (v) => Math.round(num(v) * 10) / 10;
