// RFM: the R × F grid as a heat map (users or revenue per cell), the tier sizes and the
// quintile boundaries of the last calibration, with a button to recalibrate now.
import { get, post } from '../api.js';
import { h, card, num, fmtInt, fmtMoney, fmtTime, table, errorBox, select } from '../dom.js';
import { chart } from '../charts.js';
import { t } from '../i18n.js';

export async function render(root) {
  const grid = await get('/admin/rfm/grid');
  draw(root, grid, 'users');
}

function draw(root, grid, metric) {
  const cur = grid.currency || 'CNY';
  const cells = grid.cells || [];
  const b = grid.boundaries || {};
  const recal = h('button', { id: 'rfm-recalibrate' }, t('rfm.recalibrate'));
  const status = h('span', { class: 'muted', id: 'rfm-status' });
  recal.addEventListener('click', async () => {
    recal.disabled = true;
    status.textContent = t('common.working');
    try {
      const g = await post('/admin/rfm:recalibrate');
      root.replaceChildren();
      draw(root, g, metric);
    } catch (e) {
      status.replaceChildren(errorBox(e));
      recal.disabled = false;
    }
  });
  const metricSel = select({ id: 'rfm-metric' }, [['users', t('rfm.users')], ['revenue', t('rfm.revenue')]], metric);
  metricSel.addEventListener('change', () => {
    root.replaceChildren();
    draw(root, grid, metricSel.value);
  });
  root.append(h('div', { class: 'toolbar' }, recal, metricSel, status,
    h('span', { class: 'muted' }, t('rfm.calibrated') + ' ' + fmtTime(b.computed_at) + ' · v' + fmtInt(b.version) + ' · ' +
      t('rfm.population') + ' ' + fmtInt(b.population))));
  if (cells.length === 0) {
    root.append(card(t('rfm.grid'), h('p', { class: 'muted', id: 'rfm-empty' }, t('rfm.uncalibrated'))));
    return;
  }
  const value = (c) => (metric === 'users' ? num(c.users) : num(c.revenue_minor) / 100);
  const data = cells.map((c) => [num(c.f) - 1, num(c.r) - 1, value(c)]);
  const max = Math.max(1, ...data.map((d) => d[2]));
  const tiers = Object.entries(grid.tiers || {}).sort((a, b2) => num(b2[1]) - num(a[1]));
  root.append(h('div', { class: 'grid2' },
    card(t('rfm.grid'),
      chart({
        tooltip: {
          trigger: 'item',
          formatter: (p) => 'R' + (p.value[1] + 1) + ' F' + (p.value[0] + 1) + ': ' +
            (metric === 'users' ? fmtInt(p.value[2]) : fmtMoney(p.value[2] * 100, cur)),
        },
        grid: { left: 60, right: 20, top: 20, bottom: 70 },
        xAxis: { type: 'category', name: 'F', data: ['1', '2', '3', '4', '5'], splitArea: { show: true } },
        yAxis: { type: 'category', name: 'R', data: ['1', '2', '3', '4', '5'], splitArea: { show: true } },
        visualMap: { min: 0, max, calculable: true, orient: 'horizontal', left: 'center', bottom: 0, inRange: { color: ['#eef4ff', '#2f6fde'] } },
        series: [{ type: 'heatmap', data, label: { show: true, formatter: (p) => fmtInt(p.value[2]) } }],
      }, 380, 'rfm-heatmap')),
    card(t('rfm.tiers'),
      chart({
        grid: { left: 150, right: 30, top: 10, bottom: 30 },
        xAxis: { type: 'value' },
        yAxis: { type: 'category', data: tiers.map(([k]) => k).reverse() },
        series: [{ type: 'bar', data: tiers.map(([, v]) => num(v)).reverse() }],
      }, 380, 'rfm-tiers'))));
  root.append(card(t('rfm.boundaries'), table(
    [[t('rfm.score'), (r) => r.name], ['2', (r) => r.v[0], { num: true }], ['3', (r) => r.v[1], { num: true }],
      ['4', (r) => r.v[2], { num: true }], ['5', (r) => r.v[3], { num: true }]],
    [
      { name: t('rfm.recency'), v: (b.recency || []).map(fmtInt) },
      { name: t('rfm.frequency'), v: (b.frequency || []).map(fmtInt) },
      { name: t('rfm.monetary') + ' (' + cur + ')', v: (b.monetary || []).map((m) => fmtMoney(m, cur)) },
    ]), h('p', { class: 'muted' }, t('rfm.boundariesNote'))));
}
