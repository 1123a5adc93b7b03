// The ReportIn mobile API (/api/v1/, README: API). Every call names the app's language in
// Accept-Language, so that messages from the server come back in it.

export class ApiError extends Error {
  // The API's error shape: {"error": {"code", "message", "fields"}}.
  constructor(status, error, retryAfter) {
    super(error?.message || `HTTP ${status}`);
    this.status = status;
    this.code = error?.code || "http_error";
    this.fields = error?.fields || {};
    this.retryAfter = retryAfter;
  }

  // 4xx other than 429: sending the same request again would get the same answer.
  get final() {
    return this.status >= 400 && this.status < 500 && this.status !== 429;
  }
}

// No answer at all: no network, or the connection dropped before the answer arrived.
export class NetworkError extends Error {}

export async function call(method, path, { token, language, json, form, headers = {} } = {}) {
  const init = { method, cache: "no-store", headers: { Accept: "application/json", "Accept-Language": language, ...headers } };
  if (token) {
    init.headers.Authorization = `Token ${token}`;
  }
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form; // the browser sets the multipart boundary
  }
  let response;
  let body = null;
  try {
    response = await fetch(path, init);
    const text = await response.text();
    body = text ? JSON.parse(text) : null;
  } catch (error) {
    if (response && !response.ok) {
      body = null; // an error page that is not JSON: the status says enough
    } else {
      throw new NetworkError(error.message);
    }
  }
  if (!response.ok) {
    const retryAfter = Number(response.headers.get("Retry-After")) || null;
    throw new ApiError(response.status, body?.error, retryAfter);
  }
  return body;
}
