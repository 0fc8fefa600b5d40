/* Talking to our server from any page: JSON calls with the page's CSRF token, HttpError, a fresh token, the session's end. */

/** Fires "expired" when the server says no one is logged in (401): the page decides how to ask for a new login. */
export const session = new EventTarget();

export class HttpError extends Error {
  /** An answer that was not 2xx: its status and the JSON body it came with (or null). */
  constructor(status, body) {
    super("HTTP " + status);
    this.status = status;
    this.body = body;
  }
}

/** The page's CSRF token (every page of ours carries it in <meta name="csrf-token">). */
export function csrfToken() { return document.querySelector("meta[name=csrf-token]").content; }

export async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  return readJSON(response);
}

export async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin", body: JSON.stringify(body || {}),
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() }
  });
  return readJSON(response);
}

async function readJSON(response) {
  const body = await response.json().catch(() => null);
  if (response.status === 401) { loggedOut(); }
  if (!response.ok) { throw new HttpError(response.status, body); }
  return body;
}

/** Tell the page its session is gone. */
export function loggedOut() { session.dispatchEvent(new Event("expired")); }

/** The error code of a refusal's body ({"error": {"code", "message", "field"}}), or null. */
export function errorCode(body) { return (body && body.error && body.error.code) || null; }

/** A token from this page fetched afresh (the one it holds was made before the last login); true when it got one. */
export async function refreshToken() {
  try {
    const response = await fetch(location.pathname, { credentials: "same-origin", cache: "no-store" });
    const match = response.ok && !response.redirected && /name="csrf-token" content="([^"]+)"/.exec(await response.text());
    if (match) { document.querySelector("meta[name=csrf-token]").content = match[1]; }
    return !!match;
  } catch (e) {
    return false;
  }
}
