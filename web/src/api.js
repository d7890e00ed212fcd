// The uplink's HTTP API from the page (same origin: the uplink serves the page). Every call
// answers {status, body, retryAfterS} or throws ApiError; fetch's own failure (no answer) is
// status 0.

export class ApiError extends Error {
  constructor(status, code, message, retryAfterS) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.retryAfterS = retryAfterS;
  }

  // Worth trying again with the same request (SPEC §3: no answer, 5xx, 429 after Retry-After).
  get retriable() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export class Api {
  constructor(base = "") {
    this.base = base;
    this.token = null;
    this.onUnauthorized = () => {};
  }

  async call(method, path, body) {
    const headers = {};
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(this.base + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (e) {
      throw new ApiError(0, "network", `no answer from the server (${e.message})`);
    }
    const text = await res.text().catch(() => "");
    let json = null;
    if (text) {
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
    }
    if (res.ok) return json;
    const err = json && json.error ? json.error : {};
    const retryAfter = Number(res.headers.get("Retry-After")) || undefined;
    const e = new ApiError(res.status, err.code, err.message, retryAfter);
    if (res.status === 401 && this.token) this.onUnauthorized(e);
    throw e;
  }

  register(userId, password) {
    return this.call("POST", "/v1/users", { user_id: userId, password });
  }
  login(userId, password, deviceId) {
    return this.call("POST", "/v1/sessions", {
      user_id: userId,
      password,
      device_id: deviceId,
      platform: "web",
    });
  }
  logout() {
    return this.call("DELETE", "/v1/sessions/current");
  }
  mqtt() {
    return this.call("GET", "/v1/mqtt");
  }
  send(to, cmid, text) {
    return this.call("POST", "/v1/messages", { to, cmid, body: { text } });
  }
  sync(after, limit = 100) {
    return this.call("GET", `/v1/sync?after=${after}&limit=${limit}`);
  }
  ack(seq) {
    return this.call("POST", "/v1/acks", { seq });
  }
  conversations() {
    return this.call("GET", "/v1/conversations");
  }
  history(conv, before, limit = 50) {
    const q = before ? `?before=${before}&limit=${limit}` : `?limit=${limit}`;
    return this.call("GET", `/v1/conversations/${encodeURIComponent(conv)}/messages${q}`);
  }
  read(conv, convSeq) {
    return this.call("POST", `/v1/conversations/${encodeURIComponent(conv)}/read`, {
      conv_seq: convSeq,
    });
  }
  signal(to, kind) {
    return this.call("POST", "/v1/signals", { to, kind });
  }
  presence(users) {
    return this.call("GET", `/v1/presence?users=${users.map(encodeURIComponent).join(",")}`);
  }
}
