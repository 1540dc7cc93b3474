// Clusters: the behaviour clusters of the last k-means run — sizes, labels, the features
// that set each apart, and every centre as a heat map of z-scores.
import { get } from '../api.js';
import { h, card, num, fmtInt, fmtNum, fmtTime, table, kpi } from '../dom.js';
import { chart } from '../charts.js';
import { t } from '../i18n.js';

export async function render(root) {
  const m = await get('/admin/clusters');
  const clusters = m.clusters || [];
  const features = m.features || [];
  root.append(h('div', { class: 'kpis' },
    kpi(t('clusters.k'), fmtInt(clusters.length)),
    kpi(t('clusters.silhouette'), clusters.length ? fmtNum(m.silhouette, 3) : '—'),
    kpi(t('clusters.population'), fmtInt(m.population)),
    kpi(t('clusters.computed'), fmtTime(m.computed_at))));
  if (clusters.length === 0) {
    root.append(card(t('clusters.title'), h('p', { class: 'muted', id: 'clusters-empty' }, t('clusters.none'))));
    return;
  }
  const names = clusters.map((c) => '#' + c.cluster_id);
  const cells = [];
  clusters.forEach((c, i) => (c.centroid || []).forEach((z, j) => cells.push([j, i, Math.round(num(z) * 100) / 100])));
  root.append(h('div', { class: 'grid2' },
    card(t('clusters.sizes'), chart({
      grid: { left: 50, right: 20, top: 10, bottom: 30 },
      xAxis: { type: 'category', data: names },
      yAxis: { type: 'value' },
      series: [{ type: 'bar', data: clusters.map((c) => num(c.size)) }],
    }, 300, 'clusters-sizes')),
    card(t('clusters.table'), table([
      ['#', (c) => c.cluster_id],
      [t('clusters.size'), (c) => fmtInt(c.size), { num: true }],
      [t('clusters.label'), (c) => c.label || ''],
      [t('clusters.distinguishing'), (c) => (c.distinguishing || []).map((d) => d.feature + ' ' + (num(d.z) >= 0 ? '+' : '') + fmtNum(d.z, 2) + 'σ').join(', ')],
    ], clusters, { id: 'clusters-table' }))));
  root.append(card(t('clusters.centroids'), chart({
    tooltip: { trigger: 'item', formatter: (p) => names[p.value[1]] + ' · ' + features[p.value[0]] + ': ' + fmtNum(p.value[2], 2) + 'σ' },
    grid: { left: 60, right: 20, top: 10, bottom: 150 },
    xAxis: { type: 'category', data: features, axisLabel: { rotate: 45, interval: 0 } },
    yAxis: { type: 'category', data: names },
    visualMap: { min: -2, max: 2, calculable: true, orient: 'horizontal', left: 'center', bottom: 0, inRange: { color: ['#d03050', '#f7f7f7', '#2f6fde'] } },
    series: [{ type: 'heatmap', data: cells }],
  }, 120 + 40 * clusters.length + 150, 'clusters-centroids')));
}
