// Admin: usage across all users over a chosen range, grouped by day, user, model or request
// type (`GET /api/tokens/admin/usage`), as a chart and a table, with the same rows as CSV
// (`format=csv`); the top users of the range; and the user list (admin-users.js). Accounts
// without the admin role get the denied state (the API would answer 403 admin_required).

import { currentUser, request, SessionEnded } from '../api.js';
import { barChart } from '../charts.js';
import { announce, h, replace } from '../dom.js';
import { daysBetween, isoDate, number, requestType, shortDate } from '../format.js';
import { empty, errorState, loading } from '../states.js';
import { dataTable, field, select } from '../table.js';
import { HOME } from '../router.js';
import { userList } from './admin-users.js';

const share = (total) => (row) => (total ? `${((row.total_tokens / total) * 100).toFixed(1)} %` : '–');

/** Per grouping: the API's breakdown field, how a row is named, and the table's columns. */
const GROUPS = {
  day: {
    label: 'Day', field: 'breakdown_by_day', name: (row) => shortDate(row.date),
    columns: () => [{ label: 'Date', value: (row) => row.date }],
  },
  user: {
    label: 'User', field: 'breakdown_by_user', name: (row) => row.email,
    columns: () => [{ label: 'User', value: (row) => h('span', { class: 'who' }, h('strong', { text: row.name }), h('span', { class: 'muted', text: row.email })) }],
  },
  model: {
    label: 'Model', field: 'breakdown_by_model', name: (row) => row.model,
    columns: () => [
      { label: 'Model', value: (row) => h('code', { text: row.model }) },
      { label: 'Prompt', numeric: true, value: (row) => number(row.prompt_tokens) },
      { label: 'Completion', numeric: true, value: (row) => number(row.completion_tokens) },
    ],
  },
  request_type: {
    label: 'Request type', field: 'breakdown_by_request_type', name: (row) => requestType(row.request_type),
    columns: () => [{ label: 'Request type', value: (row) => requestType(row.request_type) }],
  },
};

function denied(main) {
  const user = currentUser();
  main.append(h('section', { class: 'page narrow' },
    h('div', { class: 'state state-error status-403', role: 'alert', id: 'admin-denied' },
      h('h1', { class: 'state-title', tabindex: '-1', text: 'Administrators only' }),
      h('p', { class: 'state-text', text: `${user ? user.email : 'This account'} does not have access to the admin pages.` }),
      h('p', {}, h('a', { href: HOME, 'data-link': '', text: 'Back to my usage' })))));
  main.querySelector('h1').focus();
}

function statTile(label, value, key) {
  return h('div', { class: 'stat', 'data-stat': key }, h('span', { class: 'stat-label', text: label }), h('span', { class: 'stat-value', text: value }));
}

function report(data, group, range, charts) {
  const spec = GROUPS[group];
  const rows = data[spec.field] || [];
  const stats = h('div', { class: 'stats' },
    statTile('Total tokens', number(data.total_tokens), 'total_tokens'),
    statTile('Requests', number(data.request_count), 'request_count'),
    statTile('Active users', number(data.active_users), 'active_users'),
    statTile('Prompt / completion', `${number(data.prompt_tokens)} / ${number(data.completion_tokens)}`, 'split'));
  if (rows.length === 0) {
    return [stats, empty('No usage in this range', 'Choose a wider range, or come back once requests are tracked.')];
  }
  let labels = rows.map(spec.name);
  let values = rows.map((row) => row.total_tokens);
  if (group === 'day') {
    const byDay = new Map(rows.map((row) => [row.date, row.total_tokens]));
    const days = daysBetween(range.start, range.end);
    labels = days.map((day) => shortDate(day));
    values = days.map((day) => byDay.get(day) || 0);
  }
  const chart = barChart({
    labels, values, horizontal: group !== 'day',
    summary: `Tokens by ${spec.label.toLowerCase()} from ${range.start} to ${range.end}: ${number(data.total_tokens)} in total over ${rows.length} groups.`,
    className: group === 'day' ? 'chart-daily' : 'chart-groups',
  });
  charts.push(chart.chart);
  const columns = [
    ...spec.columns(),
    { label: 'Tokens', numeric: true, value: (row) => h('strong', { text: number(row.total_tokens) }) },
    { label: 'Requests', numeric: true, value: (row) => number(row.request_count) },
    { label: 'Share', numeric: true, value: share(data.total_tokens) },
  ];
  return [stats, chart.element,
    dataTable({ caption: `Usage by ${spec.label.toLowerCase()}`, columns, rows, className: `report-table report-${group}` })];
}

function topUsers(data) {
  const rows = (data.breakdown_by_user || []).slice(0, 5);
  if (rows.length === 0) return empty('No active users in this range');
  const most = rows[0].total_tokens || 1;
  return h('ol', { class: 'top-users' }, rows.map((row) => {
    const bar = h('span', { class: 'top-bar-fill' });
    bar.style.width = `${Math.max(2, (row.total_tokens / most) * 100)}%`;
    return h('li', { 'data-user': row.email },
      h('div', { class: 'top-line' },
        h('span', { class: 'who' }, h('strong', { text: row.name }), h('span', { class: 'muted', text: row.email })),
        h('span', { class: 'top-figure' }, h('strong', { text: number(row.total_tokens) }), h('span', { class: 'muted', text: ` tokens · ${number(row.request_count)} req.` }))),
      h('span', { class: 'top-bar', 'aria-hidden': 'true' }, bar));
  }));
}

async function downloadCsv(range, group, status) {
  const query = new URLSearchParams({ start_date: range.start, end_date: range.end, group_by: group, format: 'csv' });
  const csv = await request('GET', `/api/tokens/admin/usage?${query}`, { text: true });
  const name = `token-usage-by-${group.replace('_', '-')}-${range.start}-to-${range.end}.csv`;
  const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
  const link = h('a', { href: url, download: name, class: 'visually-hidden' });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 60000);
  const lines = csv.trim().split('\n').length - 1;
  status.textContent = `Downloaded ${name} (${lines} row${lines === 1 ? '' : 's'}).`;
  status.dataset.file = name;
}

export function renderAdmin(main, { signal, onCleanup }) {
  const user = currentUser();
  if (!user || user.role !== 'admin') {
    denied(main);
    return;
  }
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 29 * 86400000);
  const start = h('input', { type: 'date', name: 'start_date', id: 'range-start', value: isoDate(monthAgo), required: true });
  const end = h('input', { type: 'date', name: 'end_date', id: 'range-end', value: isoDate(today), required: true });
  const group = select('group_by', Object.entries(GROUPS).map(([key, spec]) => [key, spec.label]), 'day');
  const csvButton = h('button', { type: 'button', class: 'button button-secondary', id: 'download-csv' }, 'Download CSV');
  const csvStatus = h('p', { class: 'muted small csv-status', role: 'status', id: 'csv-status' });
  const form = h('form', { class: 'filters', 'aria-label': 'Report range' },
    field('From', start), field('To', end), field('Group by', group),
    h('div', { class: 'filter-actions' }, h('button', { type: 'submit', class: 'button button-primary' }, 'Apply'), csvButton));
  const results = h('div', { class: 'report', id: 'admin-report' }, loading('Loading usage…'));
  const top = h('div', { id: 'top-users' }, loading('Loading…'));
  const heading = h('h1', { tabindex: '-1', text: 'Admin' });
  main.append(h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('div', {}, heading, h('p', { class: 'muted page-sub', text: 'Usage across every account, and the accounts themselves.' }))),
    h('section', { class: 'card', 'aria-labelledby': 'report-title' },
      h('div', { class: 'card-head' }, h('h2', { id: 'report-title', text: 'Usage report' })), form, csvStatus, results),
    h('div', { class: 'grid grid-1-2' },
      h('section', { class: 'card', 'aria-labelledby': 'top-title' }, h('div', { class: 'card-head' }, h('h2', { id: 'top-title', text: 'Top users' }), h('span', { class: 'muted small', text: 'in this range' })), top),
      userList({ signal }))));

  let charts = [];
  const destroyCharts = () => {
    for (const chart of charts) if (chart) chart.destroy();
    charts = [];
  };
  onCleanup(destroyCharts);
  const range = () => ({ start: start.value, end: end.value });

  async function load() {
    const chosen = group.value;
    const current = range();
    results.setAttribute('aria-busy', 'true');
    const query = (by) => new URLSearchParams({ start_date: current.start, end_date: current.end, group_by: by });
    try {
      const [data, users] = await Promise.all([
        request('GET', `/api/tokens/admin/usage?${query(chosen)}`),
        chosen === 'user' ? null : request('GET', `/api/tokens/admin/usage?${query('user')}`),
      ]);
      if (signal.aborted) return;
      destroyCharts();
      replace(results, report(data, chosen, { start: data.start_date, end: data.end_date }, charts));
      results.dataset.group = chosen;
      replace(top, topUsers(users || data));
      announce(`Usage by ${GROUPS[chosen].label.toLowerCase()} loaded.`);
    } catch (error) {
      if (error instanceof SessionEnded || signal.aborted) return;
      destroyCharts();
      if (error.status === 403) {
        replace(main);
        denied(main);
        return;
      }
      replace(results, errorState(error, error.status === 422 ? null : load));
      replace(top);
    } finally {
      results.removeAttribute('aria-busy');
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    csvStatus.textContent = '';
    load();
  });
  csvButton.addEventListener('click', async () => {
    csvButton.disabled = true;
    csvStatus.textContent = 'Preparing the CSV…';
    try {
      await downloadCsv(range(), group.value, csvStatus);
    } catch (error) {
      if (!(error instanceof SessionEnded)) csvStatus.textContent = `The CSV could not be made: ${error.message}`;
    } finally {
      csvButton.disabled = false;
    }
  });
  heading.focus();
  load();
}
