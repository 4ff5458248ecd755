// How numbers, dates and the API's names are shown. Dates are UTC, like the billing period.

const integer = new Intl.NumberFormat('en-US');
const compactNumber = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const dayMonthYear = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric', month: 'short', year: 'numeric', timeZone: 'UTC',
});
const dayMonth = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone: 'UTC' });
const timeOfDay = new Intl.DateTimeFormat('en-GB', {
  hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone: 'UTC',
});

export function number(value) {
  return integer.format(value ?? 0);
}

export function compact(value) {
  return compactNumber.format(value ?? 0);
}

export function percent(value) {
  const digits = value > 0 && value < 10 ? 1 : 0;
  return `${value.toFixed(digits)} %`;
}

/** "1 Jan 2027" */
export function date(iso) {
  return dayMonthYear.format(new Date(iso));
}

/** "1 Jan" */
export function shortDate(iso) {
  return dayMonth.format(new Date(iso));
}

/** "4 Dec 2026, 18:24:00" (UTC) */
export function dateTime(iso) {
  const when = new Date(iso);
  return `${dayMonthYear.format(when)}, ${timeOfDay.format(when)}`;
}

/** YYYY-MM-DD of a Date, in UTC. */
export function isoDate(when) {
  return when.toISOString().slice(0, 10);
}

/** Every YYYY-MM-DD from `start` to `end` (inclusive, both YYYY-MM-DD). */
export function daysBetween(start, end) {
  const days = [];
  const cursor = new Date(`${start}T00:00:00Z`);
  const last = new Date(`${end}T00:00:00Z`);
  while (cursor <= last && days.length < 400) {
    days.push(isoDate(cursor));
    cursor.setUTCDate(cursor.getUTCDate() + 1);
  }
  return days;
}

const REQUEST_TYPES = { chat: 'Chat', plagiarism: 'Plagiarism check', prompt: 'Prompt generation' };
const PLANS = { free: 'Free', basic: 'Basic', professional: 'Professional' };

export function requestType(name) {
  return REQUEST_TYPES[name] || name;
}

export function planName(name) {
  return PLANS[name] || name;
}

export function money(amount, currency) {
  return new Intl.NumberFormat('en-US', {
    style: 'currency', currency: currency.toUpperCase(), maximumFractionDigits: 2,
  }).format(amount);
}
