// The public API of Doztra Auth, as the dashboard uses it (the same calls any client makes).
//
// Tokens live in this module's memory only, never in localStorage or a cookie: a reload or a
// closed tab signs out. A 401 on a request sent with the current access token (expired or
// revoked) triggers one refresh, shared by every request waiting on it: refresh tokens rotate,
// and a spent one presented twice revokes the whole sign-in. When the refresh is refused the
// session is over; listeners registered with onSessionEnd are told why.

/** An answer other than 2xx, with the service's `{detail, code}` body. */
export class ApiError extends Error {
  constructor(status, body, headers) {
    super((body && body.detail) || `The request failed (HTTP ${status}).`);
    this.name = 'ApiError';
    this.status = status;
    this.code = (body && body.code) || 'http_error';
    this.body = body || {};
    const retryAfter = headers ? Number(headers.get('retry-after')) : NaN;
    this.retryAfter = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null;
  }
}

/** The session ended while a request was under way; the app is already back at sign-in. */
export class SessionEnded extends Error {
  constructor() {
    super('The session has ended.');
    this.name = 'SessionEnded';
  }
}

let session = null; // {access, refresh, user}
let refreshing = null; // the refresh in flight, shared
const endListeners = new Set();

export function isSignedIn() {
  return session !== null;
}

/** The signed-in account as `GET /api/users/me` describes it. */
export function currentUser() {
  return session ? session.user : null;
}

export function onSessionEnd(listener) {
  endListeners.add(listener);
}

function endSession(reason) {
  if (!session) return;
  session = null;
  for (const listener of endListeners) listener(reason);
}

async function send(method, path, { body, token, accept } = {}) {
  const headers = { Accept: accept || 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, {
      code: 'network_error',
      detail: 'The service cannot be reached. Check the connection and try again.',
    });
  }
}

async function read(response, asText) {
  if (response.ok) {
    if (asText) return response.text();
    return response.status === 204 ? null : response.json();
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  throw new ApiError(response.status, body, response.headers);
}

/** Signs in with email and password; resolves to the account. */
export async function signIn(email, password) {
  const data = await read(await send('POST', '/api/auth/login', { body: { email, password } }));
  session = { access: data.access_token, refresh: data.refresh_token, user: data.user };
  return data.user;
}

/** Rotates the refresh token once for every caller waiting; false when the session is over. */
function refreshSession() {
  if (!refreshing) {
    const spent = session.refresh;
    refreshing = (async () => {
      const response = await send('POST', '/api/auth/refresh', { body: { refresh_token: spent } });
      if (response.status === 401) return false;
      const data = await read(response);
      if (session && session.refresh === spent) {
        session.access = data.access_token;
        session.refresh = data.refresh_token;
      }
      return true;
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/**
 * Calls the API as the signed-in user. `body` may be a function, evaluated when the request is
 * sent (after a refresh, it sees the new tokens). With `text`, resolves to the raw body.
 */
export async function request(method, path, { body, text = false } = {}) {
  if (!session) throw new SessionEnded();
  const accept = text ? 'text/csv, application/json' : undefined;
  const payload = () => (typeof body === 'function' ? body(session) : body);
  const token = session.access;
  let response = await send(method, path, { body: payload(), token, accept });
  if (response.status === 401) {
    // Another request may have refreshed while this one was in flight: just retry then.
    if (session && session.access === token && !(await refreshSession())) {
      endSession('expired');
    }
    if (!session) throw new SessionEnded();
    response = await send(method, path, { body: payload(), token: session.access, accept });
    if (response.status === 401) {
      endSession('expired');
      throw new SessionEnded();
    }
  }
  return read(response, text);
}

/** Reads the account again (role and plan may have changed since sign-in). */
export async function reloadUser() {
  const user = await request('GET', '/api/users/me');
  if (session) session.user = user;
  return user;
}

/** Revokes this sign-in on the server, then forgets the tokens whatever the answer. */
export async function signOut() {
  if (!session) return;
  try {
    await request('POST', '/api/auth/logout', {
      body: (current) => ({ refresh_token: current ? current.refresh : '' }),
    });
  } catch {
    // Already revoked or unreachable: the tokens are forgotten below either way.
  }
  endSession('signed_out');
}
