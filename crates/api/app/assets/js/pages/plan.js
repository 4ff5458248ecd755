// The plan card: the caller's plan and status, the models it allows (`GET /api/models`), and an
// upgrade to each higher plan through Stripe Checkout (`POST /api/billing/checkout-session`).
// Without billing configured the service answers 503 billing_unavailable, said as such.

import { ApiError, request, SessionEnded } from '../api.js';
import { h } from '../dom.js';
import { date, money, number, planName } from '../format.js';

const ORDER = ['free', 'basic', 'professional'];

function limitsLine(limits) {
  const part = (value, noun) => (value === null ? `unlimited ${noun}` : `${number(value)} ${noun}`);
  return [
    part(limits.tokens, 'tokens'),
    part(limits.chat_messages, 'chat messages'),
    part(limits.plagiarism_checks, 'plagiarism checks'),
    part(limits.prompts_generated, 'prompts'),
  ].join(' · ');
}

function upgradeMessage(error) {
  if (error instanceof ApiError && error.code === 'billing_unavailable') {
    return 'Upgrades are not available on this server: billing is not configured.';
  }
  return error.message;
}

function upgradeButton(plan, message, buttons) {
  const price = plan.price ? `${money(plan.price, plan.currency)}/${plan.interval}` : '';
  const button = h('button', {
    type: 'button', class: 'button button-primary', 'data-upgrade': plan.plan,
  }, `Upgrade to ${planName(plan.plan)}`, price ? h('span', { class: 'button-note', text: price }) : null);
  button.addEventListener('click', async () => {
    for (const other of buttons) other.disabled = true;
    const label = button.firstChild.textContent;
    button.firstChild.textContent = 'Opening checkout…';
    message.textContent = '';
    message.className = 'upgrade-message';
    try {
      const session = await request('POST', '/api/billing/checkout-session', {
        body: { plan: plan.plan, billing_period: 'monthly' },
      });
      message.textContent = 'Taking you to Stripe Checkout…';
      window.location.assign(session.url);
    } catch (error) {
      if (error instanceof SessionEnded) return;
      message.textContent = upgradeMessage(error);
      message.className = `upgrade-message is-error status-${error.status}`;
      message.dataset.code = error.code || '';
      for (const other of buttons) other.disabled = false;
      button.firstChild.textContent = label;
    }
  });
  buttons.push(button);
  return button;
}

/** The card; `subscription` from `GET /api/users/me`. */
export function planCard({ subscription, models, plans }) {
  const current = plans.plans.find((plan) => plan.plan === subscription.plan);
  const higher = plans.plans.filter((plan) => ORDER.indexOf(plan.plan) > ORDER.indexOf(subscription.plan));
  const message = h('p', { class: 'upgrade-message', id: 'upgrade-message', role: 'status' });
  const buttons = [];
  const ends = subscription.expires_at && !subscription.auto_renew
    ? h('p', { class: 'muted', text: `Paid until ${date(subscription.expires_at)}, then Free.` })
    : null;
  return h('section', { class: 'card plan', id: 'plan', 'aria-labelledby': 'plan-title' },
    h('div', { class: 'card-head' },
      h('h2', { id: 'plan-title', text: 'Plan' }),
      h('span', { class: `badge badge-status-${subscription.status}`, text: subscription.status })),
    h('p', { class: 'plan-name', 'data-plan': subscription.plan }, planName(subscription.plan),
      current && current.price ? h('span', { class: 'plan-price', text: ` ${money(current.price, current.currency)}/${current.interval}` }) : null),
    current ? h('p', { class: 'plan-limits muted', text: `Each month: ${limitsLine(current.limits)}` }) : null,
    subscription.token_limit !== null
      ? h('p', { class: 'muted', text: `Token limit set by an administrator: ${number(subscription.token_limit)}.` })
      : null,
    ends,
    h('h3', { class: 'subhead', text: 'Models' }),
    h('ul', { class: 'models', 'aria-label': 'Models of the catalog' }, models.models.map((model) => {
      const needed = plans.plans.find((plan) => plan.allowed_models.includes(model.name));
      return h('li', {
        class: `model ${model.allowed ? 'model-allowed' : 'model-locked'}`, 'data-model': model.name,
      }, h('span', { class: 'model-icon', 'aria-hidden': 'true', text: model.allowed ? '✓' : '–' }),
      h('span', { class: 'model-name', text: model.name }),
      h('span', {
        class: 'model-note',
        text: model.allowed ? 'included' : `needs ${needed ? planName(needed.plan) : 'a higher plan'}`,
      }));
    })),
    higher.length
      ? h('div', { class: 'upgrade' }, higher.map((plan) => upgradeButton(plan, message, buttons)))
      : h('p', { class: 'muted', text: 'You are on the highest plan.' }),
    message);
}
