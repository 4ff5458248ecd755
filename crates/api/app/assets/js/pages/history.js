// The recent requests of the caller (`GET /api/tokens/me/history`) with the API's own filters
// (request type, model, date range) and pagination. Filters are checked by the API: a bad range
// comes back as its 422 sentence, shown above the table.

import { request, SessionEnded } from '../api.js';
import { h, replace, announce } from '../dom.js';
import { dateTime, number, requestType } from '../format.js';
import { empty, errorState, loading } from '../states.js';
import { dataTable, field, pager, select } from '../table.js';

const COLUMNS = [
  { label: 'Time (UTC)', value: (row) => dateTime(row.timestamp) },
  { label: 'Type', value: (row) => h('span', { class: `tag tag-${row.request_type}`, text: requestType(row.request_type) }) },
  { label: 'Model', value: (row) => h('code', { text: row.model }) },
  { label: 'Prompt', numeric: true, value: (row) => number(row.prompt_tokens) },
  { label: 'Completion', numeric: true, value: (row) => number(row.completion_tokens) },
  { label: 'Total', numeric: true, value: (row) => h('strong', { text: number(row.total_tokens) }) },
  { label: 'Request id', value: (row) => h('code', { class: 'request-id', text: row.request_id }) },
];

/** The history section; `reload(models)` fetches the current page again (after a refresh). */
export function historySection({ signal }) {
  const state = { page: 1, limit: '10', request_type: '', model: '', start_date: '', end_date: '' };
  const results = h('div', { class: 'history-results' }, loading('Loading requests…'));
  const problem = h('div', { class: 'history-problem' });
  const modelSelect = select('model', [['', 'All models']], '');
  const form = h('form', { class: 'filters', 'aria-label': 'Filter requests' },
    field('Type', select('request_type', [['', 'All types'], ['chat', 'Chat'], ['plagiarism', 'Plagiarism check'], ['prompt', 'Prompt generation']], '')),
    field('Model', modelSelect),
    field('From', h('input', { type: 'date', name: 'start_date', id: 'field-start_date' })),
    field('To', h('input', { type: 'date', name: 'end_date', id: 'field-end_date' })),
    field('Per page', select('limit', [['10', '10'], ['20', '20'], ['50', '50']], state.limit)),
    h('div', { class: 'filter-actions' },
      h('button', { type: 'submit', class: 'button button-primary' }, 'Apply'),
      h('button', { type: 'reset', class: 'button button-secondary' }, 'Clear')));
  const count = h('span', { class: 'muted history-count' });
  const element = h('section', { class: 'card history', id: 'history', 'aria-labelledby': 'history-title' },
    h('div', { class: 'card-head' }, h('h2', { id: 'history-title', text: 'Recent requests' }), count),
    form, problem, results);

  async function load() {
    const query = new URLSearchParams({ page: String(state.page), limit: state.limit });
    for (const key of ['request_type', 'model', 'start_date', 'end_date']) {
      if (state[key]) query.set(key, state[key]);
    }
    results.setAttribute('aria-busy', 'true');
    replace(problem);
    try {
      const page = await request('GET', `/api/tokens/me/history?${query}`);
      if (signal.aborted) return;
      count.textContent = `${number(page.total_records)} in total`;
      if (page.history.length === 0) {
        const filtered = ['request_type', 'model', 'start_date', 'end_date'].some((key) => state[key]);
        replace(results, empty(
          filtered ? 'No requests match these filters' : 'No requests recorded yet',
          filtered ? 'Clear the filters to see every request.' : 'Requests tracked through the API are listed here, newest first.'));
      } else {
        replace(results,
          dataTable({ caption: 'Recent requests, newest first', columns: COLUMNS, rows: page.history, className: 'history-table' }),
          pager({
            label: 'Request pages', page: page.current_page, pages: page.total_pages, total: page.total_records,
            noun: 'request', go: (next) => { state.page = next; load(); },
          }));
      }
      announce(`Showing page ${page.current_page} of ${page.total_pages} of your requests.`);
    } catch (error) {
      if (error instanceof SessionEnded || signal.aborted) return;
      if (error.status === 422) replace(problem, errorState(error));
      else replace(results, errorState(error, load));
    } finally {
      results.removeAttribute('aria-busy');
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    for (const key of ['request_type', 'model', 'start_date', 'end_date', 'limit']) state[key] = data.get(key) || '';
    state.page = 1;
    load();
  });
  form.addEventListener('reset', () => {
    Object.assign(state, { page: 1, limit: '10', request_type: '', model: '', start_date: '', end_date: '' });
    window.setTimeout(load, 0);
  });

  return {
    element,
    reload(models) {
      const chosen = modelSelect.value;
      replace(modelSelect, [['', 'All models'], ...models.models.map((model) => [model.name, model.name])]
        .map(([value, text]) => h('option', { value, text })));
      modelSelect.value = chosen;
      return load();
    },
  };
}
