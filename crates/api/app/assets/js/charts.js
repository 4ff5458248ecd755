// Charts drawn by the vendored Chart.js (window.Chart, loaded before the modules). Each chart
// sits in a fixed-height box, carries a text summary for screen readers (the same figures are
// also in a table or list beside it), and draws without animation.

import { h } from './dom.js';
import { compact, number } from './format.js';

export const PALETTE = ['#4f46e5', '#0ea5e9', '#10b981', '#f59e0b', '#ec4899', '#8b5cf6', '#14b8a6', '#64748b'];
const GRID = '#e5e7eb';
const TEXT = '#64748b';

function configureDefaults(Chart) {
  if (Chart.__doztraDefaults) return;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.font.size = 12;
  Chart.defaults.color = TEXT;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.plugins.tooltip.callbacks.label = (item) => {
    const value = item.parsed && typeof item.parsed === 'object'
      ? (item.chart.options.indexAxis === 'y' ? item.parsed.x : item.parsed.y)
      : item.parsed;
    return ` ${number(value)} tokens`;
  };
  Chart.__doztraDefaults = true;
}

/**
 * A chart box: a canvas with a summary, or a note when Chart.js is missing. Returns
 * {element, chart}; call chart.destroy() when the box leaves the page.
 */
function chartBox(className, summary, build, height) {
  const canvas = h('canvas', { role: 'img', 'aria-label': summary });
  const element = h('div', { class: `chart-box ${className}` }, canvas);
  if (height) element.style.height = `${height}px`;
  const Chart = window.Chart;
  if (!Chart) {
    element.replaceChildren(h('p', { class: 'muted', text: summary }));
    return { element, chart: null };
  }
  configureDefaults(Chart);
  return { element, chart: new Chart(canvas, build()) };
}

function axes(horizontal) {
  const valueAxis = {
    beginAtZero: true,
    grid: { color: GRID },
    border: { display: false },
    ticks: { callback: (value) => compact(value), maxTicksLimit: 6 },
  };
  const categoryAxis = { grid: { display: false }, border: { color: GRID }, ticks: { autoSkip: true, maxRotation: 0 } };
  return horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis };
}

/** Bars of tokens; horizontal for named groups (as tall as they need), vertical for days. */
export function barChart({ labels, values, horizontal = false, summary, className = '' }) {
  const height = horizontal ? Math.max(120, labels.length * 36 + 36) : null;
  return chartBox(`chart-bar ${className}`, summary, () => ({
    type: 'bar',
    data: {
      labels,
      datasets: [{
        label: 'Tokens',
        data: values,
        backgroundColor: horizontal ? labels.map((_, i) => PALETTE[i % PALETTE.length]) : PALETTE[0],
        borderRadius: 4,
        maxBarThickness: horizontal ? 22 : 28,
      }],
    },
    options: {
      indexAxis: horizontal ? 'y' : 'x',
      responsive: true,
      plugins: { legend: { display: false } },
      scales: axes(horizontal),
    },
  }), height);
}

/** A ring of shares (e.g. tokens by request type), with the legend drawn as a list beside it. */
export function doughnutChart({ labels, values, summary, className = '' }) {
  return chartBox(`chart-doughnut ${className}`, summary, () => ({
    type: 'doughnut',
    data: {
      labels,
      datasets: [{ data: values, backgroundColor: labels.map((_, i) => PALETTE[i % PALETTE.length]), borderWidth: 2 }],
    },
    options: { responsive: true, cutout: '62%', plugins: { legend: { display: false } } },
  }));
}

/** The list that names each coloured share with its figure and percentage. */
export function legend(labels, values) {
  const total = values.reduce((sum, value) => sum + value, 0);
  return h('ul', { class: 'legend' }, labels.map((label, i) => h('li', {},
    h('span', { class: 'swatch', 'data-color': i % PALETTE.length, 'aria-hidden': 'true' }),
    h('span', { class: 'legend-label', text: label }),
    h('span', { class: 'legend-value', text: number(values[i]) }),
    h('span', { class: 'legend-share', text: total ? `${Math.round((values[i] / total) * 100)} %` : '–' }))));
}
