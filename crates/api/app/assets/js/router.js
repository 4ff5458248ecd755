// Client routes under /app (the server answers every one of them with the same page). A page
// is rendered into <main> with an AbortSignal that fires when the person navigates away, so a
// late answer never writes into the next page.

import { currentUser, isSignedIn } from './api.js';
import { h, replace } from './dom.js';

const pages = new Map(); // path -> {title, render}
let active = null; // {controller, cleanups}
let afterSignIn = null; // where to go once signed in
let notice = null; // one message for the next page (e.g. why we are back at sign-in)

export const SIGN_IN = '/app/signin';
export const HOME = '/app/usage';

/** Registers a page. `render(main, context)` may return a cleanup function. */
export function definePage(path, { title, render }) {
  pages.set(path, { title, render });
}

/** Goes to `path` (pushing history unless `replace`); `message` is shown by the next page. */
export function navigate(path, { replace: replaceEntry = false, message = null } = {}) {
  if (message) notice = message;
  if (window.location.pathname !== path) {
    if (replaceEntry) window.history.replaceState(null, '', path);
    else window.history.pushState(null, '', path);
  }
  render();
}

/** Remembers where the person wanted to go before signing in. */
export function rememberDestination(path) {
  afterSignIn = path;
}

export function takeDestination() {
  const destination = afterSignIn && afterSignIn !== SIGN_IN ? afterSignIn : HOME;
  afterSignIn = null;
  return destination;
}

function normalise(path) {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' || trimmed === '/app' ? null : trimmed;
}

function render() {
  if (active) {
    active.controller.abort();
    for (const cleanup of active.cleanups) cleanup();
  }
  const main = document.getElementById('main');
  const path = normalise(window.location.pathname);
  if (!isSignedIn() && path !== SIGN_IN) {
    if (path) rememberDestination(path);
    window.history.replaceState(null, '', SIGN_IN);
    return render();
  }
  if (path === null || (isSignedIn() && path === SIGN_IN)) {
    window.history.replaceState(null, '', isSignedIn() ? HOME : SIGN_IN);
    return render();
  }
  const page = pages.get(path) || notFoundPage;
  updateChrome(path);
  document.title = `${page.title} · Doztra`;
  const controller = new AbortController();
  active = { controller, cleanups: [] };
  const context = {
    signal: controller.signal,
    notice: takeNotice(),
    onCleanup: (cleanup) => active.cleanups.push(cleanup),
  };
  replace(main);
  page.render(main, context);
  return undefined;
}

function takeNotice() {
  const message = notice;
  notice = null;
  return message;
}

/** Redraws the top bar after the account was read again (its role may have changed). */
export function refreshChrome() {
  updateChrome(normalise(window.location.pathname));
}

/** The top bar: shown when signed in; the admin link only for admins; the current page marked. */
function updateChrome(path) {
  const user = currentUser();
  document.getElementById('topbar').hidden = !user;
  document.getElementById('nav-admin').hidden = !(user && user.role === 'admin');
  document.getElementById('account-email').textContent = user ? user.email : '';
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.getAttribute('href') === path) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

const notFoundPage = {
  title: 'Not found',
  render(main) {
    main.append(h('section', { class: 'page narrow' },
      h('h1', { tabindex: '-1', text: 'Page not found' }),
      h('p', {}, 'There is no page at this address. ', h('a', { href: HOME, 'data-link': '' }, 'Go to my usage'), '.')));
    main.querySelector('h1').focus();
  },
};

/** Starts routing: links marked data-link navigate in place; Back and Forward re-render. */
export function start() {
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[data-link]');
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(link.getAttribute('href'));
  });
  window.addEventListener('popstate', render);
  render();
}
