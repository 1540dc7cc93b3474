// The overview: this month's GMV, active and paying users and conversion from the revenue
// report, the last twelve months as charts, events per minute over the last hour (as
// counted by the ingest instance that answered: the counts are per instance), and counts
// from the other services.
import { get, query } from '../api.js';
import { h, card, kpi, num, fmtInt, fmtMoney, fmtPct, fmtNum, errorBox, settle, monthsBack } from '../dom.js';
import { chart } from '../charts.js';
import { t, lang } from '../i18n.js';

export async function render(root) {
  const [rev, grid, segs, camps, sat, ingest] = await Promise.all([
    settle(get('/admin/revenue' + query({ dimension: 'REVENUE_DIMENSION_MONTH', from_month: monthsBack(11), to_month: monthsBack(0) }))),
    settle(get('/admin/rfm/grid')),
    settle(get('/admin/segments?page_size=1000')),
    settle(get('/admin/campaigns?page_size=500')),
    settle(get('/admin/satisfaction?dimension=SATISFACTION_DIMENSION_OVERALL')),
    settle(get('/admin/ingest/stats')),
  ]);

  const kpis = h('div', { class: 'kpis', id: 'overview-kpis' });
  root.append(kpis);
  if (rev.ok) {
    const rows = rev.value.rows || [];
    const cur = rev.value.currency;
    // The latest month with activity: the current month may not have started yet.
    const last = [...rows].reverse().find((r) => num(r.active_users) > 0) || rows[rows.length - 1] || {};
    const label = last.month ? ' · ' + last.month : '';
    kpis.append(
      kpi(t('overview.gmv') + label, fmtMoney(last.gmv_minor, cur), t('overview.net') + ' ' + fmtMoney(last.net_revenue_minor, cur), 'kpi-gmv'),
      kpi(t('overview.active') + label, fmtInt(last.active_users), t('overview.paying') + ' ' + fmtInt(last.paying_users), 'kpi-active'),
      kpi(t('overview.conversion') + label, fmtPct(last.paying_ratio), t('overview.conversionNote'), 'kpi-conversion'),
      kpi(t('overview.arppu') + label, fmtMoney(last.arppu_minor, cur), t('overview.arpu') + ' ' + fmtMoney(last.arpu_minor, cur)),
    );
    root.append(card(t('overview.trend'),
      chart({
        legend: {},
        grid: { left: 70, right: 60, top: 40, bottom: 30 },
        xAxis: { type: 'category', data: rows.map((r) => r.month) },
        yAxis: [{ type: 'value', name: cur }, { type: 'value', name: t('overview.users') }],
        series: [
          { name: t('overview.gmv'), type: 'bar', data: rows.map((r) => num(r.gmv_minor) / 100) },
          { name: t('overview.net'), type: 'bar', data: rows.map((r) => num(r.net_revenue_minor) / 100) },
          { name: t('overview.active'), type: 'line', yAxisIndex: 1, data: rows.map((r) => num(r.active_users)) },
          { name: t('overview.paying'), type: 'line', yAxisIndex: 1, data: rows.map((r) => num(r.paying_users)) },
        ],
      }, 320, 'overview-trend')));
  } else {
    kpis.append(errorBox(rev.error));
  }
  if (ingest.ok) {
    const minutes = ingest.value.minutes || [];
    // The last minute is still running: the headline is the one before it.
    const done = minutes.slice(0, -1);
    const last = done[done.length - 1] || {};
    const total = done.reduce((a, m) => a + num(m.accepted), 0);
    const epm = kpi(t('overview.epm'), fmtInt(last.accepted),
      t('overview.epmNote', { avg: fmtNum(done.length ? total / done.length : 0, 1), instance: ingest.value.instance || '—' }), 'kpi-epm');
    // The hour's total, current minute included, for tests and tooltips.
    epm.dataset.hourTotal = String(total + num((minutes[minutes.length - 1] || {}).accepted));
    kpis.append(epm);
    root.append(card(t('overview.epmChart'),
      h('p', { class: 'muted' }, t('overview.epmPerInstance', { instance: ingest.value.instance || '—' })),
      chart({
        legend: {},
        grid: { left: 50, right: 20, top: 40, bottom: 30 },
        xAxis: { type: 'category', data: minutes.map((m) => hhmm(m.start)) },
        yAxis: { type: 'value', minInterval: 1 },
        series: [
          { name: t('overview.accepted'), type: 'bar', stack: 'events', data: minutes.map((m) => num(m.accepted)) },
          { name: t('overview.duplicates'), type: 'bar', stack: 'events', data: minutes.map((m) => num(m.duplicates)) },
        ],
      }, 220, 'overview-epm')));
  } else {
    kpis.append(kpi(t('overview.epm'), '—', t('common.error') + (ingest.error.status ? ' (' + ingest.error.status + ')' : ''), 'kpi-epm'));
  }

  const side = h('div', { class: 'grid2' });
  root.append(side);
  if (grid.ok) {
    const tiers = Object.entries(grid.value.tiers || {}).sort((a, b) => num(b[1]) - num(a[1]));
    side.append(card(t('overview.tiers'), tiers.length === 0 ? h('p', { class: 'muted' }, t('rfm.uncalibrated')) :
      chart({
        grid: { left: 140, right: 30, top: 10, bottom: 30 },
        xAxis: { type: 'value' },
        yAxis: { type: 'category', data: tiers.map(([k]) => k).reverse() },
        series: [{ type: 'bar', data: tiers.map(([, v]) => num(v)).reverse() }],
      }, 280)));
  } else {
    side.append(card(t('overview.tiers'), errorBox(grid.error)));
  }
  const facts = h('div', { class: 'kpis' });
  if (segs.ok) facts.append(kpi(t('overview.segments'), fmtInt((segs.value.segments || []).length)));
  if (camps.ok) {
    const list = camps.value.campaigns || [];
    facts.append(kpi(t('overview.campaigns'), fmtInt(list.length),
      t('overview.launched') + ' ' + fmtInt(list.filter((c) => c.state === 'CAMPAIGN_STATE_LAUNCHED').length)));
  }
  if (sat.ok) {
    const g = (sat.value.groups || [])[0] || {};
    facts.append(kpi(t('overview.nps'), num(g.nps_responses) ? fmtNum(g.nps, 1) : '—', fmtInt(g.nps_responses) + ' ' + t('overview.answers')));
    facts.append(kpi(t('overview.csat'), num(g.csat_responses) ? fmtNum(g.csat, 1) + '%' : '—', fmtInt(g.csat_responses) + ' ' + t('overview.answers')));
  }
  side.append(card(t('overview.facts'), facts,
    [segs, camps, sat].filter((r) => !r.ok).map((r) => errorBox(r.error))));
}

// hhmm formats a timestamp as local hours and minutes.
function hhmm(ts) {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString(lang() === 'zh' ? 'zh-CN' : 'en-GB', { hour: '2-digit', minute: '2-digit' });
}
