// My usage: the period's meters, a daily chart of tokens, tokens by model and by request type,
// the plan with its models and upgrades, and the request history. Read from
// `GET /api/usage/me`, `/api/tokens/me`, `/api/users/me`, `/api/models` and `/api/plans`; each
// request type is also asked with `POST /api/tokens/me/check` (it records nothing), so a 402
// "limit reached" the AI backends would get is shown before they get it.

import { reloadUser, request, SessionEnded } from '../api.js';
import { barChart, doughnutChart, legend } from '../charts.js';
import { announce, h, replace } from '../dom.js';
import { date, daysBetween, number, requestType, shortDate } from '../format.js';
import { refreshChrome } from '../router.js';
import { empty, errorState, loading } from '../states.js';
import { historySection } from './history.js';
import { meters } from './meters.js';
import { planCard } from './plan.js';

const CHECKED_TYPES = ['chat', 'plagiarism', 'prompt'];

/** The model a check names: the preferred one if the plan allows it, else the first allowed. */
function modelToCheck(user, models) {
  const allowed = models.models.filter((model) => model.allowed).map((model) => model.name);
  const preferred = user.preferences && user.preferences.default_model;
  return allowed.includes(preferred) ? preferred : allowed[0];
}

/** The 402 answers of `POST /api/tokens/me/check`, one per refused request type. */
async function refusals(user, models) {
  const model = modelToCheck(user, models);
  if (!model) return [];
  const answers = await Promise.all(CHECKED_TYPES.map((type) => request('POST', '/api/tokens/me/check', {
    body: { request_type: type, model },
  }).then(() => null, (error) => {
    if (error instanceof SessionEnded) throw error;
    return error.status === 402 ? { type, error } : null;
  })));
  return answers.filter(Boolean);
}

function limitBanner(refused) {
  if (refused.length === 0) return null;
  const reset = refused[0].error.body.reset_date;
  return h('div', { class: 'banner banner-danger', role: 'alert', id: 'limit-banner', 'data-state': 'limit-reached' },
    h('p', { class: 'banner-title' }, h('strong', { text: 'Limit reached' }),
      reset ? ` — new requests of these types are refused until ${date(reset)}.` : ''),
    h('ul', {}, refused.map(({ type, error }) => h('li', { 'data-refused': type, 'data-code': error.code },
      h('span', { class: 'banner-type', text: `${requestType(type)}: ` }), error.message,
      h('span', { class: 'muted', text: ` (HTTP 402, ${error.code})` })))),
    h('p', {}, h('a', { href: '#plan', text: 'See upgrade options' })));
}

function dailyCard(stats, charts) {
  const period = stats.current_period;
  const days = daysBetween(period.start_date.slice(0, 10), period.end_date.slice(0, 10));
  const byDay = new Map(stats.daily_usage.map((day) => [day.date, day.total_tokens]));
  const values = days.map((day) => byDay.get(day) || 0);
  let body;
  if (period.tokens_used === 0) {
    body = empty('No usage yet this period', 'Tokens appear here per day once requests are tracked.');
  } else {
    const busiest = stats.daily_usage.reduce((best, day) => (day.total_tokens > best.total_tokens ? day : best));
    const chart = barChart({
      labels: days.map((day) => shortDate(day)),
      values,
      summary: `Tokens per day this period: ${number(period.tokens_used)} in total; the busiest day was ${shortDate(busiest.date)} with ${number(busiest.total_tokens)}.`,
      className: 'chart-daily',
    });
    charts.push(chart.chart);
    body = chart.element;
  }
  return h('section', { class: 'card chart-card', 'aria-labelledby': 'daily-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'daily-title', text: 'Tokens per day' }),
      h('span', { class: 'muted', text: `${shortDate(period.start_date)} – ${date(period.end_date)}` })),
    body);
}

function sharesCard({ id, title, labels, values, horizontal, charts, note }) {
  let body;
  if (values.every((value) => value === 0)) {
    body = empty('Nothing to show yet', 'No tokens used this period.');
  } else {
    const summary = `${title}: ${labels.map((label, i) => `${label} ${number(values[i])}`).join(', ')}.`;
    const chart = horizontal
      ? barChart({ labels, values, horizontal: true, summary, className: 'chart-models' })
      : doughnutChart({ labels, values, summary, className: 'chart-types' });
    charts.push(chart.chart);
    body = h('div', { class: `shares ${horizontal ? 'shares-stacked' : ''}` }, chart.element, legend(labels, values));
  }
  return h('section', { class: 'card chart-card', id, 'aria-labelledby': `${id}-title` },
    h('div', { class: 'card-head' }, h('h2', { id: `${id}-title`, text: title })), body, note || null);
}

function breakdownCards(stats, charts) {
  const models = Object.entries(stats.models).sort((a, b) => b[1] - a[1]);
  const { chat, plagiarism, prompt_generation: prompt } = stats.breakdown;
  return h('div', { class: 'grid grid-2' },
    sharesCard({
      id: 'by-model', title: 'Tokens by model', horizontal: true, charts,
      labels: models.map(([name]) => name), values: models.map(([, total]) => total),
    }),
    sharesCard({
      id: 'by-type', title: 'Tokens by request type', charts,
      labels: CHECKED_TYPES.map(requestType),
      values: [chat.total_tokens, plagiarism.total_tokens, prompt.total_tokens],
      note: chat.total_tokens
        ? h('p', { class: 'muted small', text: `Chat: ${number(chat.prompt_tokens)} prompt + ${number(chat.completion_tokens)} completion tokens.` })
        : null,
    }));
}

export function renderUsage(main, { signal, onCleanup }) {
  const heading = h('h1', { tabindex: '-1', text: 'My usage' });
  const period = h('p', { class: 'muted page-sub' });
  const updated = h('span', { class: 'muted small updated', 'aria-live': 'polite' });
  const refresh = h('button', { type: 'button', class: 'button button-secondary', id: 'refresh' }, 'Refresh');
  const body = h('div', { class: 'page-body', id: 'usage-body' }, loading('Loading your usage…'));
  const history = historySection({ signal });
  main.append(h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', {}, heading, period), h('div', { class: 'page-actions' }, updated, refresh)),
    body, history.element));

  let charts = [];
  const destroyCharts = () => {
    for (const chart of charts) if (chart) chart.destroy();
    charts = [];
  };
  onCleanup(destroyCharts);

  async function load() {
    refresh.disabled = true;
    body.setAttribute('aria-busy', 'true');
    try {
      const [usage, stats, user, models, plans] = await Promise.all([
        request('GET', '/api/usage/me'),
        request('GET', '/api/tokens/me'),
        reloadUser(),
        request('GET', '/api/models'),
        request('GET', '/api/plans'),
      ]);
      const refused = await refusals(user, models);
      if (signal.aborted) return;
      refreshChrome();
      destroyCharts();
      const cp = stats.current_period;
      period.textContent = `Billing period ${shortDate(cp.start_date)} – ${date(cp.end_date)} · resets ${date(usage.tokens.reset_date)} (UTC)`;
      replace(body,
        limitBanner(refused),
        meters(usage),
        h('div', { class: 'grid grid-2-1' }, dailyCard(stats, charts), planCard({ subscription: user.subscription, models, plans })),
        breakdownCards(stats, charts));
      updated.textContent = `Updated ${new Date().toLocaleTimeString('en-GB')}`;
      await history.reload(models);
      announce('Usage updated.');
    } catch (error) {
      if (error instanceof SessionEnded || signal.aborted) return;
      destroyCharts();
      replace(body, errorState(error, load));
      history.reload({ models: [] });
    } finally {
      body.removeAttribute('aria-busy');
      refresh.disabled = false;
    }
  }

  refresh.addEventListener('click', load);
  heading.focus();
  load();
}
