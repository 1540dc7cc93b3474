// Campaigns: the list, a builder (target segments and prediction filters, channel,
// offer, content, A/B variants, conversion goal), and one campaign's page — its audience
// preview and launch while a draft, then its report: each variant against the control
// group with uplift, its 95 % confidence interval and p-value.
import { get, post, enc } from '../api.js';
import { h, card, kpi, num, fmtInt, fmtNum, fmtMoney, fmtPct, fmtTime, table, errorBox, field, select } from '../dom.js';
import { chart } from '../charts.js';
import { t } from '../i18n.js';

const channels = ['CHANNEL_EMAIL', 'CHANNEL_PUSH', 'CHANNEL_SMS', 'CHANNEL_IN_APP'];
const offers = ['OFFER_TYPE_NONE', 'OFFER_TYPE_PERCENT', 'OFFER_TYPE_FIXED', 'OFFER_TYPE_PERSONALISED'];

export async function render(root, args) {
  if (args[0] === 'new') return builder(root);
  if (args[0]) return detail(root, args[0]);
  return list(root);
}

const stateLabel = (s) => t('campaigns.state.' + (s || 'CAMPAIGN_STATE_UNSPECIFIED'));

async function list(root) {
  const r = await get('/admin/campaigns?page_size=500');
  root.append(h('div', { class: 'toolbar' }, h('a', { class: 'button primary', href: '#/campaigns/new', id: 'campaign-new' }, t('campaigns.new'))),
    card(t('campaigns.list'), table([
      [t('campaigns.id'), (c) => h('a', { href: '#/campaigns/' + enc(c.campaign_id) }, c.campaign_id)],
      [t('campaigns.name'), (c) => c.name],
      [t('campaigns.stateLabel'), (c) => stateLabel(c.state)],
      [t('campaigns.channel'), (c) => t('campaigns.ch.' + c.channel)],
      [t('campaigns.segments'), (c) => ((c.target || {}).segment_ids || []).join(', ')],
      [t('campaigns.audience'), (c) => fmtInt(c.audience_size), { num: true }],
      [t('campaigns.created'), (c) => fmtTime(c.created_at)],
    ], r.campaigns || [], { id: 'campaigns-table' })));
}

function builder(root) {
  return get('/admin/segments?page_size=1000').then((r) => {
    const segs = r.segments || [];
    const id = h('input', { id: 'campaign-id', pattern: '[a-z0-9][a-z0-9_-]*' });
    const name = h('input', { id: 'campaign-name', required: true });
    const segBoxes = segs.map((s) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', value: s.segment_id, id: 'campaign-segment-' + s.segment_id }), ' ', s.name + ' (' + s.segment_id + ', ' + fmtInt(s.size) + ')'));
    const matchAny = h('input', { type: 'checkbox', id: 'campaign-match-any' });
    const minProp = h('input', { type: 'number', min: 0, max: 1, step: 0.01, id: 'campaign-min-propensity' });
    const maxChurn = h('input', { type: 'number', min: 0, max: 1, step: 0.01, id: 'campaign-max-churn' });
    const channel = select({ id: 'campaign-channel' }, channels.map((c) => [c, t('campaigns.ch.' + c)]), 'CHANNEL_EMAIL');
    const holdout = h('input', { type: 'number', min: 0, max: 50, value: 10, id: 'campaign-holdout' });
    const offerType = select({ id: 'campaign-offer-type' }, offers.map((o) => [o, t('campaigns.offer.' + o)]), 'OFFER_TYPE_NONE');
    const offerItem = h('input', { id: 'campaign-offer-item' });
    const listPrice = h('input', { type: 'number', min: 0, step: 0.01, id: 'campaign-offer-price' });
    const percentOff = h('input', { type: 'number', min: 0, max: 90, id: 'campaign-offer-percent' });
    const title = h('input', { id: 'campaign-title', value: t('campaigns.defaultTitle') });
    const body = h('textarea', { id: 'campaign-body', rows: 3 }, t('campaigns.defaultBody'));
    const recs = h('input', { type: 'number', min: 0, max: 10, value: 3, id: 'campaign-recs' });
    const goal = h('input', { id: 'campaign-goal', value: 'Order Completed' });
    const windowHours = h('input', { type: 'number', min: 1, max: 720, value: 72, id: 'campaign-window' });
    const variants = h('div', { id: 'campaign-variants' });
    const addVariant = (vname, weight, vtitle) => {
      const row = h('div', { class: 'variant-row' },
        h('input', { class: 'v-name', value: vname, placeholder: 'a', pattern: '[a-z0-9][a-z0-9_-]*' }),
        h('input', { class: 'v-weight', type: 'number', min: 1, max: 100, value: weight }),
        h('input', { class: 'v-title', value: vtitle, placeholder: t('campaigns.title') }));
      row.append(h('button', { type: 'button', class: 'link danger', onclick: () => row.remove() }, t('common.remove')));
      variants.append(row);
    };
    addVariant('a', 50, '');
    addVariant('b', 50, '');
    const msg = h('div', { id: 'campaign-create-result' });
    const submit = h('button', { type: 'submit', class: 'primary', id: 'campaign-create' }, t('campaigns.create'));

    const form = h('form', {
      onsubmit: async (ev) => {
        ev.preventDefault();
        msg.replaceChildren();
        const segIds = segBoxes.map((l) => l.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
        if (segIds.length === 0) {
          msg.replaceChildren(h('div', { class: 'error' }, t('campaigns.needSegment')));
          return;
        }
        const filter = {};
        if (minProp.value !== '') filter.min_purchase_propensity = Number(minProp.value);
        if (maxChurn.value !== '') filter.max_churn_risk = Number(maxChurn.value);
        const offer = { type: offerType.value };
        if (offerType.value !== 'OFFER_TYPE_NONE') {
          Object.assign(offer, {
            item_id: offerItem.value.trim(), currency: 'CNY',
            list_price_minor: String(Math.round(Number(listPrice.value || 0) * 100)),
            percent_off: Number(percentOff.value || 0), max_percent_off: Number(percentOff.value || 0),
          });
        }
        const vs = [...variants.querySelectorAll('.variant-row')].map((row) => {
          const v = { name: row.querySelector('.v-name').value.trim(), weight: Number(row.querySelector('.v-weight').value || 1) };
          const vt = row.querySelector('.v-title').value.trim();
          if (vt) v.content = { title: vt, body: body.value, recommendations: Number(recs.value || 0) };
          return v;
        }).filter((v) => v.name);
        const campaign = {
          campaign_id: id.value.trim(),
          name: name.value.trim(),
          target: { segment_ids: segIds, match_any: matchAny.checked, predictions: filter },
          channel: channel.value,
          holdout_percent: Number(holdout.value || 0),
          offer,
          content: { title: title.value, body: body.value, recommendations: Number(recs.value || 0) },
          variants: vs,
          schedule: { type: 'SCHEDULE_TYPE_NOW' },
          goal: { event: goal.value.trim(), window_hours: Number(windowHours.value || 72) },
        };
        submit.disabled = true;
        try {
          const c = await post('/admin/campaigns', campaign);
          location.hash = '#/campaigns/' + enc(c.campaign_id);
        } catch (e) {
          msg.replaceChildren(errorBox(e));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h('div', { class: 'grid2' },
      card(t('campaigns.basics'), field(t('campaigns.id'), id, t('segments.idHint')), field(t('campaigns.name'), name),
        field(t('campaigns.channel'), channel), field(t('campaigns.holdout'), holdout, t('campaigns.holdoutHint')),
        field(t('campaigns.goal'), goal), field(t('campaigns.window'), windowHours)),
      card(t('campaigns.target'),
        segBoxes.length ? h('div', { class: 'checks' }, segBoxes) : h('p', { class: 'muted' }, t('campaigns.noSegments')),
        h('label', { class: 'check' }, matchAny, ' ', t('campaigns.matchAny')),
        field(t('campaigns.minPropensity'), minProp), field(t('campaigns.maxChurn'), maxChurn))),
    h('div', { class: 'grid2' },
      card(t('campaigns.content'), field(t('campaigns.title'), title), field(t('campaigns.body'), body, t('campaigns.bodyHint')),
        field(t('campaigns.recs'), recs)),
      card(t('campaigns.offerLabel'), field(t('campaigns.offerType'), offerType), field(t('campaigns.offerItem'), offerItem),
        field(t('campaigns.listPrice'), listPrice), field(t('campaigns.percentOff'), percentOff))),
    card(t('campaigns.variants'), h('p', { class: 'muted' }, t('campaigns.variantsHint')), variants,
      h('button', { type: 'button', onclick: () => addVariant('', 50, '') }, t('campaigns.addVariant'))),
    h('div', { class: 'toolbar' }, submit), msg);
    root.append(form);
  });
}

async function detail(root, id) {
  const c = await get('/admin/campaigns/' + enc(id));
  const target = c.target || {};
  root.append(h('div', { class: 'kpis', id: 'campaign-summary' },
    kpi(t('campaigns.name'), c.name, c.campaign_id),
    kpi(t('campaigns.stateLabel'), h('span', { id: 'campaign-state', 'data-state': c.state }, stateLabel(c.state))),
    kpi(t('campaigns.channel'), t('campaigns.ch.' + c.channel)),
    kpi(t('campaigns.audience'), fmtInt(c.audience_size), t('campaigns.control') + ' ' + fmtInt(c.control_percent) + '% · ' + t('campaigns.holdout') + ' ' + fmtInt(c.holdout_percent) + '%'),
    kpi(t('campaigns.launched'), fmtTime(c.launched_at))),
  card(t('campaigns.definition'), h('dl', { class: 'facts' },
    h('dt', {}, t('campaigns.segments')), h('dd', {}, (target.segment_ids || []).join(target.match_any ? ' ∪ ' : ' ∩ ')),
    h('dt', {}, t('campaigns.filters')), h('dd', {}, JSON.stringify(target.predictions || {})),
    h('dt', {}, t('campaigns.goal')), h('dd', {}, ((c.goal || {}).event || 'Order Completed') + ' · ' + fmtInt((c.goal || {}).window_hours || 72) + 'h'),
    h('dt', {}, t('campaigns.variants')), h('dd', {}, (c.variants || []).map((v) => v.name + ' ×' + v.weight).join(', ') || 'main'))));

  if (c.state === 'CAMPAIGN_STATE_DRAFT' || c.state === 'CAMPAIGN_STATE_SCHEDULED') {
    const box = h('div', { id: 'campaign-audience' }, h('p', { class: 'muted' }, t('common.loading')));
    const launch = h('button', { id: 'campaign-launch', class: 'primary' }, t('campaigns.launch'));
    const cancel = h('button', { id: 'campaign-cancel', class: 'danger' }, t('campaigns.cancel'));
    const msg = h('div', { id: 'campaign-launch-result' });
    const act = (verb) => async () => {
      launch.disabled = cancel.disabled = true;
      try {
        await post('/admin/campaigns/' + enc(id) + ':' + verb);
        root.replaceChildren();
        await detail(root, id);
      } catch (e) {
        msg.replaceChildren(errorBox(e));
        launch.disabled = cancel.disabled = false;
      }
    };
    launch.addEventListener('click', act('launch'));
    cancel.addEventListener('click', act('cancel'));
    root.append(card(t('campaigns.audiencePreview'), box, h('div', { class: 'toolbar' }, launch, cancel), msg));
    try {
      const a = await get('/admin/campaigns/' + enc(id) + '/audience');
      box.replaceChildren(table([
        [t('campaigns.step'), (r) => r[0]], [t('campaigns.users'), (r) => fmtInt(r[1]), { num: true }],
      ], [
        [t('campaigns.candidates'), a.candidates], [t('campaigns.excluded'), a.excluded], [t('campaigns.withoutConsent'), a.without_consent],
        [t('campaigns.dnc'), a.do_not_contact], [t('campaigns.capped'), a.frequency_capped], [t('campaigns.eligible'), a.eligible],
        [t('campaigns.control'), a.control], [t('campaigns.holdoutRow'), a.holdout],
        ...Object.entries(a.treated || {}).map(([k, v]) => [t('campaigns.treated') + ' · ' + k, v]),
      ], { id: 'campaign-audience-table' }));
      if (a.empty) box.append(h('div', { class: 'error' }, t('campaigns.emptyAudience')));
    } catch (e) {
      box.replaceChildren(errorBox(e));
    }
    return;
  }
  if (c.state === 'CAMPAIGN_STATE_LAUNCHED') {
    const box = h('div', { id: 'campaign-report' });
    root.append(box);
    await report(box, id);
  }
}

async function report(box, id) {
  let r;
  try {
    r = await get('/admin/campaigns/' + enc(id) + '/report');
  } catch (e) {
    box.replaceChildren(errorBox(e));
    return;
  }
  const cur = r.currency || 'CNY';
  const control = r.control || { name: 'control' };
  const arms = [...(r.variants || []), control];
  const refresh = h('button', { id: 'campaign-report-refresh', onclick: async () => { box.replaceChildren(); await report(box, id); } }, t('common.refresh'));
  const variants = r.variants || [];
  box.append(card(t('campaigns.report'),
    h('p', { class: 'muted' }, t('campaigns.goal') + ': ' + (r.goal_event || '') + ' · ' + fmtInt(r.window_hours) + 'h · ' +
      (r.window_closed ? t('campaigns.windowClosed') : t('campaigns.windowOpen')) + ' · ' + t('campaigns.computed') + ' ' + fmtTime(r.computed_at), ' ', refresh),
    table([
      [t('campaigns.arm'), (a) => a.name || 'control'],
      [t('campaigns.audience'), (a) => fmtInt(a.audience), { num: true }],
      [t('campaigns.sends'), (a) => fmtInt(a.sends), { num: true }],
      [t('campaigns.opened'), (a) => fmtInt(a.opened), { num: true }],
      [t('campaigns.clicked'), (a) => fmtInt(a.clicked), { num: true }],
      [t('campaigns.conversions'), (a) => fmtInt(a.conversions), { num: true }],
      [t('campaigns.rate'), (a) => fmtPct(a.conversion_rate, 2), { num: true }],
      [t('campaigns.uplift'), (a) => (a === control ? '—' : fmtNum(a.uplift_percent, 1) + '%'), { num: true }],
      [t('campaigns.ci'), (a) => (a === control ? '—' : '[' + fmtPct(a.ci_low, 2) + ', ' + fmtPct(a.ci_high, 2) + ']'), { num: true }],
      [t('campaigns.pValue'), (a) => (a === control ? '—' : fmtNum(a.p_value, 4)), { num: true }],
      [t('campaigns.revenue'), (a) => fmtMoney(a.revenue_minor, cur), { num: true }],
      [t('campaigns.incremental'), (a) => (a === control ? '—' : fmtMoney(a.net_incremental_revenue_minor, cur)), { num: true }],
    ], arms, { id: 'campaign-report-table' })));
  box.append(h('div', { class: 'grid2' },
    card(t('campaigns.rates'), chart({
      grid: { left: 60, right: 20, top: 20, bottom: 30 },
      xAxis: { type: 'category', data: arms.map((a) => a.name || 'control') },
      yAxis: { type: 'value', axisLabel: { formatter: (v) => fmtPct(v, 1) } },
      series: [{ type: 'bar', data: arms.map((a) => num(a.conversion_rate)) }],
    }, 280, 'campaign-rates')),
    card(t('campaigns.ciChart'), chart({
      tooltip: { trigger: 'item' },
      grid: { left: 60, right: 20, top: 20, bottom: 30 },
      xAxis: { type: 'category', data: variants.map((a) => a.name) },
      yAxis: { type: 'value', axisLabel: { formatter: (v) => fmtPct(v, 1) } },
      series: [
        // A candlestick from ci_low to ci_high draws the interval; the dot is the difference.
        { type: 'candlestick', name: '95% CI', barWidth: 18, data: variants.map((a) => [num(a.ci_low), num(a.ci_high), num(a.ci_low), num(a.ci_high)]),
          markLine: { silent: true, symbol: 'none', data: [{ yAxis: 0 }] } },
        { type: 'scatter', name: t('campaigns.difference'), symbolSize: 10, data: variants.map((a) => num(a.conversion_rate) - num(control.conversion_rate)) },
      ],
    }, 280, 'campaign-ci'))));
  box.dataset.ready = 'true';
}
