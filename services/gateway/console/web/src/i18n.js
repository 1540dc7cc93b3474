// i18n.js picks the console's language (the saved choice, else the browser's) and
// looks strings up in the dictionaries of strings.js.
import { en, zh } from './strings.js';

const dicts = { en, zh };
const langKey = 'strata.lang';
let current = localStorage.getItem(langKey) || ((navigator.language || '').toLowerCase().startsWith('zh') ? 'zh' : 'en');
if (!dicts[current]) current = 'en';

export function lang() {
  return current;
}

export function setLang(l) {
  if (!dicts[l]) return;
  current = l;
  localStorage.setItem(langKey, l);
}

// t returns the string for key in the current language, with {name} replaced by
// vars.name; the key itself when no dictionary has it.
export function t(key, vars) {
  const s = dicts[current][key] ?? en[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
}
