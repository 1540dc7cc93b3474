// Models: every registered version of each prediction model with its validation
// metrics, the AUC across versions, training on demand and rollback, and the report of
// each promoted version: headline metrics, the calibration curve (reliability diagram),
// the ROC curve and feature importance, as far as the model has them (lifetime value
// has no validation curves), and the recommender's quality over time: nDCG@10 and
// precision@10 of each training run's served model on its holdout, against popularity.
import { get, post, enc } from '../api.js';
import { h, card, kpi, num, fmtInt, fmtNum, fmtPct, fmtTime, fmtDate, table, errorBox, settle } from '../dom.js';
import { chart } from '../charts.js';
import { t } from '../i18n.js';

const metricNames = ['auc', 'log_loss', 'brier', 'precision_at_top_decile', 'log_likelihood'];

export async function render(root) {
  const r = await get('/admin/models');
  const all = r.models || [];
  const train = h('button', { id: 'models-train', class: 'primary' }, t('models.train'));
  const recTrain = h('button', { id: 'models-train-recommendation' }, t('models.trainRec'));
  const msg = h('div', { id: 'models-train-result', 'aria-live': 'polite' });
  train.addEventListener('click', async () => {
    train.disabled = true;
    msg.replaceChildren(h('span', { class: 'muted' }, t('common.working')));
    try {
      const res = await post('/admin/models:train');
      root.replaceChildren();
      await render(root);
      root.querySelector('#models-train-result').replaceChildren(table([
        [t('models.model'), (x) => t('users.model.' + x.model)],
        [t('models.version'), (x) => x.version || '—'],
        [t('models.promoted'), (x) => (x.promoted ? t('common.yes') : t('common.no'))],
        ['AUC', (x) => ((x.metrics || {}).auc === undefined ? '—' : fmtNum(x.metrics.auc, 3)), { num: true }],
        [t('models.reason'), (x) => x.reason || ''],
      ], res.results || [], { id: 'models-train-table' }));
    } catch (e) {
      msg.replaceChildren(errorBox(e));
      train.disabled = false;
    }
  });
  recTrain.addEventListener('click', async () => {
    recTrain.disabled = true;
    msg.replaceChildren(h('span', { class: 'muted' }, t('common.working')));
    try {
      const run = await post('/admin/recommendation:train', { wait: true });
      msg.replaceChildren(h('div', { class: run.status === 'TRAINING_STATUS_FAILED' ? 'error' : 'ok' },
        t('models.recRun') + ' ' + (run.model_version || run.id || '') + ': ' + (run.status || '') + ' · ' + num(run.users) + ' users, ' +
        num(run.items) + ' items, ' + num(run.interactions) + ' interactions, ' + fmtNum(run.duration_seconds, 1) + 's' + (run.error ? ' · ' + run.error : '')));
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    } finally {
      recTrain.disabled = false;
    }
  });
  root.append(h('div', { class: 'toolbar' }, train, recTrain), msg);

  const byModel = {};
  for (const m of all) (byModel[m.model] ||= []).push(m);
  const reports = {};
  await Promise.all(Object.entries(byModel).filter(([, vs]) => vs.some((v) => v.promoted)).map(async ([model]) => {
    reports[model] = await settle(get('/admin/models/' + enc(model) + '/report'));
  }));
  if (all.length === 0) root.append(card(t('models.title'), h('p', { class: 'muted', id: 'models-empty' }, t('models.none'))));
  for (const [model, versions] of Object.entries(byModel)) {
    versions.sort((a, b) => String(a.trained_at).localeCompare(String(b.trained_at)));
    const promoted = versions.find((v) => v.promoted);
    const metrics = metricNames.filter((k) => versions.some((v) => (v.metrics || {})[k] !== undefined));
    const rollback = h('button', { class: 'link' }, t('models.rollback'));
    rollback.addEventListener('click', async () => {
      try {
        await post('/admin/models/' + model + ':rollback');
        root.replaceChildren();
        await render(root);
      } catch (e) {
        rollback.replaceWith(errorBox(e));
      }
    });
    root.append(card(t('users.model.' + model),
      h('p', { class: 'muted' }, t('models.promotedVersion') + ': ' + (promoted ? promoted.version + ' · ' + (promoted.learner || '') : '—'), ' ', promoted ? rollback : null),
      h('div', { class: 'grid2' },
        table([
          [t('models.version'), (v) => v.version + (v.promoted ? ' ★' : '')],
          [t('models.trained'), (v) => fmtTime(v.trained_at)],
          [t('models.window'), (v) => fmtDate(v.window_start) + ' – ' + fmtDate(v.window_end)],
          ...metrics.map((k) => [k, (v) => ((v.metrics || {})[k] === undefined ? '—' : fmtNum(v.metrics[k], 4)), { num: true }]),
        ], [...versions].reverse(), { class: 'models-table' }),
        metrics.length ? chart({
          legend: {},
          grid: { left: 50, right: 20, top: 40, bottom: 30 },
          xAxis: { type: 'category', data: versions.map((v) => v.version) },
          yAxis: { type: 'value', scale: true },
          series: metrics.map((k) => ({ name: k, type: 'line', data: versions.map((v) => (v.metrics || {})[k] ?? null) })),
        }, 240, 'models-chart-' + model) : null),
      promoted && (promoted.features || []).length ?
        h('p', {}, h('strong', {}, t('models.features') + ': '), h('span', { class: 'muted' }, promoted.features.join(', '))) : null,
      reports[model] ? reportView(model, reports[model]) : null));
  }
  root.append(recQuality(await settle(get('/admin/recommendation/runs?limit=100'))));
}

// recQuality charts the recommender's holdout metrics of each recorded run, oldest first.
function recQuality(res) {
  const title = t('models.recQuality');
  if (!res.ok) return card(title, errorBox(res.error));
  const runs = (res.value.runs || []).filter((r) => num(r.holdout_users) > 0).reverse();
  if (runs.length === 0) return card(title, h('p', { class: 'muted', id: 'models-rec-empty' }, t('models.recNone')));
  const x = runs.map((r) => fmtTime(r.finished_at || r.started_at));
  const line = (name, key, dashed) => ({
    name, type: 'line', data: runs.map((r) => Math.round(num(r[key]) * 1e4) / 1e4),
    lineStyle: dashed ? { type: 'dashed' } : undefined,
  });
  const last = runs[runs.length - 1];
  return card(title,
    h('p', { class: 'muted' }, t('models.recNote')),
    h('div', { class: 'kpis' },
      kpi('nDCG@10', fmtNum(last.ndcg_at_10, 3), t('models.popularity') + ' ' + fmtNum(last.popularity_ndcg_at_10, 3)),
      kpi(t('models.precision10'), fmtPct(last.precision_at_10), t('models.popularity') + ' ' + fmtPct(last.popularity_precision_at_10)),
      kpi(t('models.recall10'), fmtPct(last.recall_at_10), t('models.popularity') + ' ' + fmtPct(last.popularity_recall_at_10)),
      kpi(t('models.coverage'), fmtPct(last.coverage), t('models.popularity') + ' ' + fmtPct(last.popularity_coverage))),
    chart({
      legend: {},
      tooltip: { trigger: 'axis' },
      grid: { left: 50, right: 20, top: 40, bottom: 30 },
      xAxis: { type: 'category', data: x },
      yAxis: { type: 'value', min: 0 },
      series: [
        line('nDCG@10', 'ndcg_at_10'),
        line(t('models.precision10'), 'precision_at_10'),
        line('nDCG@10 · ' + t('models.popularity'), 'popularity_ndcg_at_10', true),
        line(t('models.precision10') + ' · ' + t('models.popularity'), 'popularity_precision_at_10', true),
      ],
    }, 280, 'models-rec-quality'),
    table([
      [t('models.trained'), (r) => fmtTime(r.finished_at || r.started_at)],
      [t('models.model'), (r) => r.model || '—'],
      [t('models.recUsers'), (r) => fmtInt(r.holdout_users), { num: true }],
      ['nDCG@10', (r) => fmtNum(r.ndcg_at_10, 4), { num: true }],
      [t('models.precision10'), (r) => fmtNum(r.precision_at_10, 4), { num: true }],
      [t('models.recall10'), (r) => fmtNum(r.recall_at_10, 4), { num: true }],
      [t('models.coverage'), (r) => fmtPct(r.coverage), { num: true }],
      [t('models.duration'), (r) => fmtNum(r.duration_seconds, 1) + 's', { num: true }],
    ], [...runs].reverse().slice(0, 10), { id: 'models-rec-runs' }));
}

// reportView shows the validation report of a model's promoted version.
function reportView(model, res) {
  if (!res.ok) return errorBox(res.error);
  const r = res.value;
  const curve = r.calibration_curve || [];
  const roc = r.roc_curve || [];
  const imp = r.feature_importance || [];
  const met = r.metrics || {};
  const has = (k) => met[k] !== undefined;
  const diagonal = { type: 'line', name: t('models.perfect'), data: [[0, 0], [1, 1]], symbol: 'none', lineStyle: { type: 'dashed', color: '#8a8a8a' } };
  const unit = { type: 'value', min: 0, max: 1 };
  const charts = [];
  if (curve.length) {
    charts.push(h('div', {}, h('h3', {}, t('models.calibration')), chart({
      legend: {},
      tooltip: { trigger: 'item' },
      grid: { left: 50, right: 20, top: 40, bottom: 40 },
      xAxis: { ...unit, name: t('models.meanPredicted'), nameLocation: 'middle', nameGap: 25 },
      yAxis: { ...unit, name: t('models.fractionPositive') },
      series: [
        diagonal,
        { type: 'line', name: t('models.observed'), data: curve.map((b) => [num(b.mean_predicted), num(b.fraction_positive), num(b.count)]),
          symbolSize: (v) => Math.min(18, 4 + Math.sqrt(v[2])) },
      ],
    }, 300, 'models-calibration-' + model)));
  }
  if (roc.length) {
    charts.push(h('div', {}, h('h3', {}, t('models.roc') + ' · AUC ' + fmtNum(r.auc, 3)), chart({
      legend: {},
      tooltip: { trigger: 'item' },
      grid: { left: 50, right: 20, top: 40, bottom: 40 },
      xAxis: { ...unit, name: t('models.fpr'), nameLocation: 'middle', nameGap: 25 },
      yAxis: { ...unit, name: t('models.tpr') },
      series: [
        { ...diagonal, name: t('models.chance') },
        { type: 'line', name: 'ROC', symbol: 'none', data: roc.map((p) => [num(p.false_positive_rate), num(p.true_positive_rate)]) },
      ],
    }, 300, 'models-roc-' + model)));
  }
  const top = imp.slice(0, 12).reverse();
  return h('div', { class: 'model-report', id: 'models-report-' + model },
    h('h3', {}, t('models.report') + ' · ' + (r.version || '') + (r.calibration ? ' · ' + t('models.calibratedWith') + ' ' + r.calibration : '')),
    h('div', { class: 'kpis' },
      // Only the metrics the model was validated with: lifetime value and category
      // demand have no AUC, and an absent metric reads as zero in the report.
      has('auc') ? kpi('AUC', fmtNum(r.auc, 3)) : null,
      has('log_loss') ? kpi(t('models.logLoss'), fmtNum(r.log_loss, 4)) : null,
      has('brier') ? kpi('Brier', fmtNum(r.brier, 4)) : null,
      has('precision_at_top_decile') ? kpi(t('models.precisionTop'), fmtPct(r.precision_at_top_decile)) : null,
      has('hit_rate_at_3') ? kpi(t('models.hitRate'), fmtPct(met.hit_rate_at_3), t('models.popularity') + ' ' + fmtPct(met.popularity_hit_rate_at_3)) : null,
      has('log_likelihood') ? kpi(t('models.logLikelihood'), fmtNum(met.log_likelihood, 1)) : null,
      num(r.examples) ? kpi(t('models.examples'), fmtInt(r.examples), (curve.length ? t('models.positives') + ' ' + fmtInt(r.positives) + ' · ' : '') +
        (r.validation_cutoff ? t('models.cutoff') + ' ' + fmtDate(r.validation_cutoff) : '')) : null),
    charts.length ? h('div', { class: 'grid2' }, charts) : h('p', { class: 'muted' }, t('models.noCurves')),
    top.length ? h('div', {}, h('h3', {}, t('models.importance')), h('p', { class: 'muted' }, t('models.importanceNote')), chart({
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      grid: { left: 170, right: 30, top: 10, bottom: 30 },
      xAxis: { type: 'value' },
      yAxis: { type: 'category', data: top.map((f) => f.feature) },
      series: [{ type: 'bar', name: t('models.importance'), data: top.map((f) => Math.round(num(f.mean_abs_contribution) * 1e4) / 1e4) }],
    }, Math.max(160, 26 * top.length + 40), 'models-importance-' + model)) : null);
}
