// The loading, empty and error blocks every page shows in place of its content.

import { h } from './dom.js';

export function loading(label = 'Loading…') {
  return h('div', { class: 'state state-loading', role: 'status' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }), label);
}

export function empty(title, text) {
  return h('div', { class: 'state state-empty' },
    h('p', { class: 'state-title', text: title }),
    text ? h('p', { class: 'state-text', text }) : null);
}

const TITLES = {
  0: 'Cannot reach the service',
  402: 'Limit reached',
  403: 'Not allowed',
  404: 'Not found',
  422: 'Check the values',
  429: 'Too many attempts',
  502: 'The payment provider did not answer',
  503: 'Service unavailable',
};

/** The title a person reads for an API error. */
export function errorTitle(error) {
  if (error && TITLES[error.status]) return TITLES[error.status];
  if (error && error.status >= 500) return 'The service failed';
  return 'Something went wrong';
}

/** An error block with the service's own sentence, its code, and a retry button if given. */
export function errorState(error, retry) {
  const code = error && error.code ? error.code : null;
  return h('div', { class: `state state-error status-${error && error.status}`, role: 'alert' },
    h('p', { class: 'state-title', text: errorTitle(error) }),
    h('p', { class: 'state-text', text: error && error.message ? error.message : String(error) }),
    code ? h('p', { class: 'state-code' }, 'Code: ', h('code', { text: code })) : null,
    retry ? h('button', { type: 'button', class: 'button', onClick: retry }, 'Try again') : null);
}
