// Models: every registered version of each prediction model with its validation
// metrics, the AUC across versions, training on demand and rollback. The API reports
// scalar metrics only; the curves it does not offer are named on the page, not drawn.
import { get, post } from '../api.js';
import { h, card, num, fmtNum, fmtTime, fmtDate, table, errorBox } from '../dom.js';
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
        h('p', {}, h('strong', {}, t('models.features') + ': '), h('span', { class: 'muted' }, promoted.features.join(', '))) : null));
  }
  root.append(card(t('models.missingTitle'), h('p', { class: 'muted', id: 'models-missing' }, t('models.missing'))));
}
