// Sign in with email and password (`POST /api/auth/login`, JSON).

import { signIn } from '../api.js';
import { h } from '../dom.js';
import { navigate, takeDestination } from '../router.js';

function failureMessage(error) {
  switch (error.status) {
    case 401: return 'Wrong email or password.';
    case 403: return error.message;
    case 422: return 'Enter a valid email address and your password.';
    case 429: {
      const minutes = error.retryAfter ? Math.max(1, Math.ceil(error.retryAfter / 60)) : null;
      return minutes
        ? `Too many failed attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`
        : 'Too many failed attempts. Try again later.';
    }
    case 0: return error.message;
    default: return error.status >= 500
      ? 'The service is unavailable right now. Try again in a moment.'
      : error.message;
  }
}

export function renderSignIn(main, { notice }) {
  const email = h('input', {
    id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true,
    spellcheck: 'false', autocapitalize: 'none',
  });
  const password = h('input', {
    id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const submit = h('button', { type: 'submit', class: 'button button-primary button-block' }, 'Sign in');
  const problem = h('p', { class: 'form-error', id: 'signin-error', role: 'alert' });
  const form = h('form', { class: 'auth-form', 'aria-describedby': 'signin-error', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: 'email', text: 'Email' }), email),
    h('div', { class: 'field' }, h('label', { for: 'password', text: 'Password' }), password),
    problem,
    submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    problem.textContent = '';
    if (!email.value.trim() || !password.value) {
      problem.textContent = 'Enter your email and password.';
      (email.value.trim() ? password : email).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      await signIn(email.value.trim(), password.value);
      navigate(takeDestination(), { replace: true });
    } catch (error) {
      problem.textContent = failureMessage(error);
      submit.disabled = false;
      submit.textContent = 'Sign in';
      password.select();
      password.focus();
    }
  });

  main.append(h('section', { class: 'auth' },
    h('div', { class: 'auth-card' },
      h('div', { class: 'auth-brand' },
        h('img', { src: '/app/assets/icon.svg', alt: '', width: '40', height: '40' }),
        h('span', { text: 'Doztra' })),
      h('h1', { text: 'Sign in' }),
      h('p', { class: 'muted', text: 'See how much of your plan you have used this month.' }),
      notice ? h('p', { class: 'notice', id: 'signin-notice', role: 'status', text: notice }) : null,
      form)));
  email.focus();
}
