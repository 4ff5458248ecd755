// The four meters of the billing period (`GET /api/usage/me`): used against limit as a bar,
// with the alert thresholds marked on it and the reset date under it.

import { h } from '../dom.js';
import { date, number, percent } from '../format.js';

/**
 * Where usage alerts fire, in percent of a limit. The API has no setting for them yet; these
 * are the service's defaults (80 %, 95 % and the limit itself).
 */
export const ALERT_THRESHOLDS = [80, 95, 100];

const METERS = [
  ['tokens', 'Tokens'],
  ['chat_messages', 'Chat messages'],
  ['plagiarism_checks', 'Plagiarism checks'],
  ['prompts_generated', 'Prompts generated'],
];

/** ok, warn (past the first alert), danger (past the second), reached (at the limit). */
function level(share) {
  if (share >= ALERT_THRESHOLDS[2]) return ['reached', 'Limit reached'];
  if (share >= ALERT_THRESHOLDS[1]) return ['danger', `Past ${ALERT_THRESHOLDS[1]} %`];
  if (share >= ALERT_THRESHOLDS[0]) return ['warn', `Past ${ALERT_THRESHOLDS[0]} %`];
  return ['ok', 'OK'];
}

function meter(key, title, { used, limit, reset_date: resetDate }) {
  const unlimited = limit === null || limit === undefined;
  const share = unlimited ? 0 : (limit === 0 ? 100 : (used / limit) * 100);
  const [state, status] = unlimited ? ['unlimited', 'Unlimited'] : level(share);
  const titleId = `meter-${key}-title`;
  const fill = h('div', { class: 'meter-fill' });
  fill.style.width = `${unlimited ? 100 : Math.min(share, 100)}%`;
  const marks = unlimited ? [] : ALERT_THRESHOLDS.map((threshold) => {
    const mark = h('span', { class: 'meter-mark', 'data-threshold': threshold, title: `${threshold} % alert` });
    mark.style.left = `${threshold}%`;
    return mark;
  });
  const valueText = unlimited
    ? `${number(used)} used, no limit`
    : `${number(used)} of ${number(limit)} used (${percent(share)}); alerts at ${ALERT_THRESHOLDS.join(', ')} percent`;
  return h('article', {
    class: `card meter meter-${state}`, 'data-meter': key, 'data-used': used,
    'data-limit': unlimited ? 'unlimited' : limit, 'data-state': state,
  },
  h('div', { class: 'meter-head' },
    h('h2', { class: 'meter-title', id: titleId, text: title }),
    h('span', { class: `badge badge-${state} meter-status`, text: status })),
  h('p', { class: 'meter-figure' },
    h('span', { class: 'meter-used', text: number(used) }),
    h('span', { class: 'meter-limit', text: unlimited ? ' · unlimited' : ` / ${number(limit)}` })),
  h('div', {
    class: 'meter-track', role: 'meter', 'aria-labelledby': titleId,
    'aria-valuemin': 0, 'aria-valuemax': unlimited ? used : limit,
    'aria-valuenow': unlimited ? used : Math.min(used, limit), 'aria-valuetext': valueText,
  }, fill, marks),
  h('p', { class: 'meter-foot' },
    h('span', { class: 'meter-share', text: unlimited ? 'No limit on this plan' : `${percent(share)} used` }),
    h('span', { class: 'meter-reset', text: `Resets ${date(resetDate)}` })));
}

/** The four meters, with a note on what their marks mean. */
export function meters(usage) {
  return h('section', { class: 'meters-section', 'aria-label': 'This period’s meters' },
    h('div', { class: 'meters' }, METERS.map(([key, title]) => meter(key, title, usage[key]))),
    h('p', { class: 'meters-note muted small' },
      h('span', { class: 'meters-note-mark', 'aria-hidden': 'true' }),
      `Marks on each bar are the usage alerts at ${ALERT_THRESHOLDS.map((t) => `${t} %`).join(', ').replace(/, ([^,]*)$/, ' and $1')} of the limit.`));
}
