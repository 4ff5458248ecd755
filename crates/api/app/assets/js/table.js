// Data tables and the pager under them. On a phone each row becomes a card: every cell shows
// its column's name (data-label, drawn by the style sheet), so nothing scrolls sideways.

import { h } from './dom.js';

/**
 * columns: [{label, value: row => text or Node, numeric?}]. `caption` names the table for
 * screen readers.
 */
export function dataTable({ caption, columns, rows, className = '' }) {
  return h('div', { class: `table-wrap ${className}` },
    h('table', { class: 'data-table' },
      h('caption', { class: 'visually-hidden', text: caption }),
      h('thead', {}, h('tr', {}, columns.map((column) => h('th', {
        scope: 'col', class: column.numeric ? 'numeric' : null, text: column.label,
      })))),
      h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((column) => h('td', {
        class: column.numeric ? 'numeric' : null, 'data-label': column.label,
      }, column.value(row))))))));
}

/** "Previous · Page 2 of 5 · Next"; `go(page)` loads a page. */
export function pager({ label, page, pages, total, noun, go }) {
  const count = `${total} ${total === 1 ? noun : `${noun}s`}`;
  return h('nav', { class: 'pager', 'aria-label': label },
    h('button', {
      type: 'button', class: 'button button-secondary', 'data-page': 'previous',
      disabled: page <= 1, onClick: () => go(page - 1),
    }, '‹ Previous'),
    h('span', { class: 'pager-status', 'aria-live': 'polite' },
      `Page ${pages === 0 ? 0 : page} of ${pages}`, h('span', { class: 'muted', text: ` · ${count}` })),
    h('button', {
      type: 'button', class: 'button button-secondary', 'data-page': 'next',
      disabled: page >= pages, onClick: () => go(page + 1),
    }, 'Next ›'));
}

/** A labelled form field: `<label>Text <control></label>`. */
export function field(label, control, className = '') {
  return h('label', { class: `field ${className}` }, h('span', { class: 'field-label', text: label }), control);
}

export function select(name, options, value) {
  return h('select', { name, id: `field-${name}` }, options.map(([optionValue, text]) => h('option', {
    value: optionValue, selected: optionValue === value, text,
  })));
}
