// Revenue: GMV, net revenue, ARPU/ARPPU, paying ratio, repurchase and churn rates by
// month, and net revenue by segment, RFM tier or acquisition cohort.
import { get, query } from '../api.js';
import { h, card, num, fmtInt, fmtMoney, fmtPct, table, select, field, monthsBack } from '../dom.js';
import { chart } from '../charts.js';
import { t } from '../i18n.js';

const dims = ['MONTH', 'SEGMENT', 'RFM_TIER', 'COHORT'];

export async function render(root, args) {
  const dim = dims.includes(args[0]) ? args[0] : 'MONTH';
  const from = args[1] || monthsBack(11);
  const to = args[2] || monthsBack(0);
  const dimSel = select({ id: 'revenue-dimension' }, dims.map((d) => [d, t('revenue.dim.' + d)]), dim);
  const fromIn = h('input', { type: 'month', id: 'revenue-from', value: from });
  const toIn = h('input', { type: 'month', id: 'revenue-to', value: to });
  const go = () => { location.hash = '#/revenue/' + [dimSel.value, fromIn.value, toIn.value].join('/'); };
  [dimSel, fromIn, toIn].forEach((el) => el.addEventListener('change', go));
  root.append(h('div', { class: 'toolbar' }, field(t('revenue.by'), dimSel), field(t('revenue.from'), fromIn), field(t('revenue.to'), toIn)));

  const r = await get('/admin/revenue' + query({ dimension: 'REVENUE_DIMENSION_' + dim, from_month: from, to_month: to }));
  const cur = r.currency || 'CNY';
  const rows = r.rows || [];
  const months = [...new Set(rows.map((x) => x.month))].sort();
  if (dim === 'MONTH') {
    root.append(h('div', { class: 'grid2' },
      card(t('revenue.money'), chart({
        legend: {},
        grid: { left: 70, right: 20, top: 40, bottom: 30 },
        xAxis: { type: 'category', data: months },
        yAxis: { type: 'value', name: cur },
        series: [
          { name: 'GMV', type: 'bar', data: rows.map((x) => num(x.gmv_minor) / 100) },
          { name: t('revenue.net'), type: 'bar', data: rows.map((x) => num(x.net_revenue_minor) / 100) },
          { name: t('revenue.refunds'), type: 'bar', data: rows.map((x) => num(x.refunds_minor) / 100) },
          { name: 'ARPPU', type: 'line', data: rows.map((x) => num(x.arppu_minor) / 100) },
        ],
      }, 320, 'revenue-money')),
      card(t('revenue.rates'), chart({
        legend: {},
        grid: { left: 60, right: 20, top: 40, bottom: 30 },
        xAxis: { type: 'category', data: months },
        yAxis: { type: 'value', axisLabel: { formatter: (v) => fmtPct(v, 0) } },
        series: [
          { name: t('revenue.payingRatio'), type: 'line', data: rows.map((x) => num(x.paying_ratio)) },
          { name: t('revenue.repurchase'), type: 'line', data: rows.map((x) => num(x.repurchase_rate)) },
          { name: t('revenue.churn'), type: 'line', data: rows.map((x) => num(x.churn_rate)) },
        ],
      }, 320, 'revenue-rates'))));
  } else {
    const keys = [...new Set(rows.map((x) => x.key))];
    const value = (k, m) => num((rows.find((x) => x.key === k && x.month === m) || {}).net_revenue_minor) / 100;
    root.append(card(t('revenue.netBy') + ' ' + t('revenue.dim.' + dim), chart({
      legend: { type: 'scroll' },
      grid: { left: 70, right: 20, top: 40, bottom: 30 },
      xAxis: { type: 'category', data: months },
      yAxis: { type: 'value', name: cur },
      series: keys.slice(0, 12).map((k) => ({ name: k || '—', type: 'bar', stack: 'net', data: months.map((m) => value(k, m)) })),
    }, 340, 'revenue-by')));
  }
  root.append(card(t('revenue.table'), table([
    ...(dim === 'MONTH' ? [] : [[t('revenue.key'), (x) => x.key || '—']]),
    [t('revenue.month'), (x) => x.month],
    ['GMV', (x) => fmtMoney(x.gmv_minor, cur), { num: true }],
    [t('revenue.net'), (x) => fmtMoney(x.net_revenue_minor, cur), { num: true }],
    [t('revenue.active'), (x) => fmtInt(x.active_users), { num: true }],
    [t('revenue.paying'), (x) => fmtInt(x.paying_users), { num: true }],
    ['ARPU', (x) => fmtMoney(x.arpu_minor, cur), { num: true }],
    ['ARPPU', (x) => fmtMoney(x.arppu_minor, cur), { num: true }],
    [t('revenue.payingRatio'), (x) => fmtPct(x.paying_ratio), { num: true }],
    [t('revenue.repurchase'), (x) => fmtPct(x.repurchase_rate), { num: true }],
    [t('revenue.churn'), (x) => fmtPct(x.churn_rate), { num: true }],
    [t('revenue.clv'), (x) => fmtMoney(x.avg_clv_minor, cur), { num: true }],
  ], rows, { id: 'revenue-table' })));
}
