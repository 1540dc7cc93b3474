// Creators: a creator's monthly settlement statement (sales, platform fees, the
// creator's share, refund clawbacks, payable) with its lines, and the revenue-share
// rules in force.
import { get, query, enc } from '../api.js';
import { h, card, kpi, fmtMoney, fmtTime, table, field, errorBox, settle, monthsBack } from '../dom.js';
import { t } from '../i18n.js';

export async function render(root, args) {
  const creator = h('input', { id: 'creator-id', value: args[0] || '', required: true, placeholder: 'c00001' });
  const month = h('input', { id: 'creator-month', type: 'month', value: args[1] || monthsBack(1), required: true });
  root.append(h('form', {
    class: 'toolbar',
    onsubmit: (ev) => {
      ev.preventDefault();
      location.hash = '#/creators/' + enc(creator.value.trim()) + '/' + month.value;
    },
  }, field(t('creators.creator'), creator), field(t('creators.month'), month),
  h('button', { id: 'creator-open', type: 'submit', class: 'primary' }, t('creators.show'))));

  if (args[0] && args[1]) {
    const s = await settle(get('/admin/creators/' + enc(args[0]) + '/statements/' + enc(args[1]) + query({ currency: 'CNY' })));
    if (s.ok) {
      const st = s.value;
      const cur = st.currency;
      root.append(h('div', { class: 'kpis', id: 'creator-statement' },
        kpi(t('creators.gross'), fmtMoney(st.gross_sales_minor, cur)),
        kpi(t('creators.fees'), fmtMoney(st.platform_fees_minor, cur)),
        kpi(t('creators.earnings'), fmtMoney(st.creator_earnings_minor, cur)),
        kpi(t('creators.clawbacks'), fmtMoney(st.clawbacks_minor, cur)),
        kpi(t('creators.payable'), fmtMoney(st.payable_minor, cur), null, 'creator-payable')),
      card(t('creators.lines'), table([
        [t('creators.kind'), (l) => t('creators.kind.' + l.kind)],
        [t('creators.order'), (l) => l.order_id],
        [t('creators.item'), (l) => l.item_id],
        [t('creators.at'), (l) => fmtTime(l.at)],
        [t('creators.channel'), (l) => l.channel],
        [t('creators.rule'), (l) => l.rule_id],
        [t('creators.grossLine'), (l) => fmtMoney(l.gross_minor, cur), { num: true }],
        [t('creators.fee'), (l) => fmtMoney(l.fee_minor, cur), { num: true }],
        [t('creators.share'), (l) => ((l.share_bps || 0) / 100).toFixed(2) + '%', { num: true }],
        [t('creators.amount'), (l) => fmtMoney(l.creator_amount_minor, cur), { num: true }],
      ], st.lines || [], { id: 'creator-lines' })));
    } else {
      root.append(errorBox(s.error));
    }
  }
  const rules = await settle(get('/admin/revenue-share-rules' + query({ creator_id: args[0] || '' })));
  root.append(card(t('creators.rules'), rules.ok ? table([
    [t('creators.rule'), (r) => r.rule_id],
    [t('creators.creator'), (r) => r.creator_id || t('creators.default')],
    [t('creators.effective'), (r) => r.effective_month],
    [t('creators.ownShare'), (r) => ((r.own_share_bps || 0) / 100).toFixed(2) + '%', { num: true }],
    [t('creators.platformShare'), (r) => ((r.platform_share_bps || 0) / 100).toFixed(2) + '%', { num: true }],
    [t('creators.platformFee'), (r) => ((r.platform_fee_bps || 0) / 100).toFixed(2) + '%', { num: true }],
    [t('creators.clawbackDays'), (r) => String(r.clawback_days || 0), { num: true }],
    [t('creators.coupons'), (r) => (r.creator_coupons || []).join(', ')],
    [t('creators.updated'), (r) => fmtTime(r.updated_at)],
  ], rules.value.rules || [], { id: 'creator-rules' }) : errorBox(rules.error)));
}
