// main.js is the console's shell: login, navigation, language switch and hash routing
// (#/page/arg…), so the gateway serves one index.html for every page.
import { apiKey, setAPIKey, get, onUnauthorized, APIError } from './api.js';
import { h, errorBox } from './dom.js';
import { t, lang, setLang } from './i18n.js';
import { disposeCharts } from './charts.js';
import * as overview from './pages/overview.js';
import * as rfm from './pages/rfm.js';
import * as clusters from './pages/clusters.js';
import * as segments from './pages/segments.js';
import * as users from './pages/users.js';
import * as campaigns from './pages/campaigns.js';
import * as models from './pages/models.js';
import * as satisfaction from './pages/satisfaction.js';
import * as revenue from './pages/revenue.js';
import * as creators from './pages/creators.js';
import * as keys from './pages/keys.js';
import * as audit from './pages/audit.js';

const pages = { overview, rfm, clusters, segments, users, campaigns, models, satisfaction, revenue, creators, keys, audit };
const order = Object.keys(pages);
const app = document.getElementById('app');
let renderSeq = 0;

// A key the gateway stops accepting (revoked, expired) sends the operator back to the
// login form; on the login form itself the form reports the refusal.
onUnauthorized(() => {
  if (app.querySelector('#login-key')) return;
  setAPIKey('');
  route();
});

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const name = pages[parts[0]] ? parts[0] : 'overview';
  return { name, args: pages[parts[0]] ? parts.slice(1) : [] };
}

function loginView() {
  const key = h('input', { id: 'login-key', type: 'password', autocomplete: 'off', required: true, placeholder: t('login.placeholder') });
  const msg = h('div', { id: 'login-error', class: 'error', hidden: true });
  const submit = async (ev) => {
    ev.preventDefault();
    msg.hidden = true;
    setAPIKey(key.value.trim());
    try {
      // The console needs the admin scope: a key without it is refused here.
      await get('/admin/segments?page_size=1');
      route();
    } catch (e) {
      setAPIKey('');
      msg.textContent = e instanceof APIError && (e.status === 401 || e.status === 403) ? t('login.refused') : t('common.error') + ': ' + e.message;
      msg.hidden = false;
    }
  };
  return h('div', { class: 'login' },
    h('form', { class: 'card login-card', onsubmit: submit },
      h('h1', {}, 'Strata'),
      h('p', { class: 'muted' }, t('login.intro')),
      h('label', { class: 'field' }, h('span', {}, t('login.key')), key),
      h('button', { id: 'login-submit', type: 'submit', class: 'primary' }, t('login.submit')),
      msg,
      langSwitch()));
}

function langSwitch() {
  const sel = h('select', { id: 'lang-select', 'aria-label': t('nav.language') },
    h('option', { value: 'en', selected: lang() === 'en' }, 'English'),
    h('option', { value: 'zh', selected: lang() === 'zh' }, '中文'));
  sel.addEventListener('change', () => {
    setLang(sel.value);
    route();
  });
  return sel;
}

function shell(current) {
  const nav = h('nav', { class: 'nav' }, order.map((name) =>
    h('a', { href: '#/' + name, id: 'nav-' + name, class: name === current ? 'active' : '' }, t('nav.' + name))));
  const logout = h('button', { id: 'logout', class: 'link' }, t('nav.logout'));
  logout.addEventListener('click', () => {
    setAPIKey('');
    location.hash = '#/overview';
    route();
  });
  const main = h('main', { id: 'page', 'data-page': current, 'data-route': location.hash });
  app.replaceChildren(
    h('header', { class: 'top' }, h('a', { class: 'brand', href: '#/overview' }, 'Strata'), nav,
      h('div', { class: 'top-right' }, langSwitch(), logout)),
    main);
  return main;
}

async function route() {
  const seq = ++renderSeq;
  disposeCharts();
  document.documentElement.lang = lang() === 'zh' ? 'zh-CN' : 'en';
  document.title = 'Strata — ' + t('title');
  if (!apiKey()) {
    app.replaceChildren(loginView());
    return;
  }
  const { name, args } = parseHash();
  const main = shell(name);
  main.append(h('p', { class: 'muted' }, t('common.loading')));
  const body = h('div', { class: 'page-body' });
  try {
    await pages[name].render(body, args);
  } catch (e) {
    body.replaceChildren(errorBox(e));
  }
  if (seq !== renderSeq) return;
  main.replaceChildren(h('h1', { class: 'page-title' }, t('nav.' + name)), body);
  main.dataset.loaded = 'true';
}

window.addEventListener('hashchange', route);
route();
