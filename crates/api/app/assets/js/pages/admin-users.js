// The admin's list of accounts (`GET /api/admin/users`): search, plan, status, pagination.

import { request, SessionEnded } from '../api.js';
import { h, replace } from '../dom.js';
import { date, planName } from '../format.js';
import { empty, errorState, loading } from '../states.js';
import { dataTable, pager } from '../table.js';

const COLUMNS = [
  { label: 'User', value: (user) => h('span', { class: 'who' }, h('strong', { text: user.name }), h('span', { class: 'muted', text: user.email })) },
  { label: 'Role', value: (user) => h('span', { class: `tag tag-role-${user.role}`, text: user.role }) },
  { label: 'Plan', value: (user) => (user.subscription ? planName(user.subscription.plan) : '–') },
  {
    label: 'Status',
    value: (user) => h('span', { class: 'status-cell' },
      h('span', { class: `badge ${user.is_active ? 'badge-ok' : 'badge-reached'}`, text: user.is_active ? 'Active' : 'Disabled' }),
      user.subscription && user.subscription.status !== 'active'
        ? h('span', { class: `badge badge-status-${user.subscription.status}`, text: user.subscription.status }) : null,
      user.is_verified ? null : h('span', { class: 'muted small', text: 'unverified' })),
  },
  { label: 'Joined', value: (user) => date(user.created_at) },
];

export function userList({ signal }) {
  const state = { page: 1, q: '' };
  const results = h('div', { class: 'user-results' }, loading('Loading users…'));
  const search = h('input', { type: 'search', name: 'q', id: 'user-search', placeholder: 'Name or email' });
  const form = h('form', { class: 'filters filters-inline', role: 'search', 'aria-label': 'Search users' },
    h('label', { class: 'field field-grow' }, h('span', { class: 'field-label', text: 'Search' }), search),
    h('div', { class: 'filter-actions' }, h('button', { type: 'submit', class: 'button button-secondary' }, 'Search')));
  const count = h('span', { class: 'muted small' });
  const element = h('section', { class: 'card', id: 'users', 'aria-labelledby': 'users-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'users-title', text: 'Users' }), count), form, results);

  async function load() {
    const query = new URLSearchParams({ page: String(state.page), limit: '10', sort: 'created_at', order: 'desc' });
    if (state.q) query.set('q', state.q);
    results.setAttribute('aria-busy', 'true');
    try {
      const page = await request('GET', `/api/admin/users?${query}`);
      if (signal.aborted) return;
      count.textContent = `${page.total_records} account${page.total_records === 1 ? '' : 's'}`;
      replace(results, page.users.length === 0
        ? empty(state.q ? 'No account matches this search' : 'No accounts yet')
        : [
          dataTable({ caption: 'Accounts, newest first', columns: COLUMNS, rows: page.users, className: 'users-table' }),
          pager({
            label: 'User pages', page: page.current_page, pages: page.total_pages, total: page.total_records,
            noun: 'account', go: (next) => { state.page = next; load(); },
          }),
        ]);
    } catch (error) {
      if (error instanceof SessionEnded || signal.aborted) return;
      replace(results, errorState(error, load));
    } finally {
      results.removeAttribute('aria-busy');
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    state.q = search.value.trim();
    state.page = 1;
    load();
  });
  load();
  return element;
}
