// Courier's web chat page: log in, the conversation list, a conversation's history, sending
// with a cmid (retried with the same cmid), live pushes over MQTT-over-WebSocket, presence and
// typing, and the client contract of SPEC §5 — subscribe before syncing, deliver every inbox
// entry once and in seq order (inbox.js), catch up by sync on every (re)connect, ack
// periodically, reconnect with backoff. Plain DOM; the build bundles it with the mqtt package.
import mqtt from "mqtt";

import { Api, ApiError } from "./api.js";
import { Conversation, directConv, validId } from "./conversation.js";
import { InboxSequencer } from "./inbox.js";

const KEEPALIVE_S = 30;
const ACK_EVERY_MS = 20000;
const PRESENCE_EVERY_MS = 20000;
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOW_MS = 5000;
const SEND_ATTEMPTS = 6;

const $ = (id) => document.getElementById(id);
const api = new Api("");

// ------------------------------------------------------------------------------------------
// State. One session at a time; everything below is reset by endSession().

let session = null; // the login answer: {token, user_id, device_id, expires_at, mqtt}
let inbox = null; // InboxSequencer
const convs = new Map(); // conv id -> Conversation
let current = null; // the open Conversation
const presence = new Map(); // user -> {online, last_seen}
const typing = new Map(); // conv -> Map(user -> until ms)
const notices = []; // the newest notifications, for the notices line

let link = null; // the live mqtt client
let linkGeneration = 0; // events of replaced clients are ignored
let reconnectAttempt = 0;
let reconnectTimer = null;
let ackTimer = null;
let presenceTimer = null;
let syncRun = null; // the running catch-up, a promise
let syncAgain = false;
let lastTypingSent = 0;
let renderQueued = false;
// Inbox entries delivered since the page started from `fromSeq`: exactly once and in order means
// delivered === lastSeq - fromSeq. Shown as data attributes of the connection indicator (and in
// its tooltip) for support and for the browser test.
let fromSeq = 0;
let delivered = 0;

// ------------------------------------------------------------------------------------------
// Storage: the session, the device id and the inbox cursor survive a reload.

function deviceId() {
  let id = localStorage.getItem("courier.device");
  if (!validId(id)) {
    const bytes = crypto.getRandomValues(new Uint8Array(6));
    id = "web-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem("courier.device", id);
  }
  return id;
}

function cursorKey() {
  return `courier.cursor.${session.user_id}.${session.device_id}`;
}

function loadCursor() {
  try {
    const c = JSON.parse(localStorage.getItem(cursorKey()) || "{}");
    return { lastSeq: Number.isSafeInteger(c.lastSeq) ? c.lastSeq : 0, epoch: c.epoch ?? null };
  } catch {
    return { lastSeq: 0, epoch: null };
  }
}

function saveCursor() {
  if (!session || !inbox) return;
  localStorage.setItem(cursorKey(), JSON.stringify({ lastSeq: inbox.lastSeq, epoch: inbox.epoch }));
}

// ------------------------------------------------------------------------------------------
// Connection state, shown in the header: offline, connecting, syncing, online, reconnecting.

function setConn(state, detail = "") {
  const el = $("conn");
  el.dataset.state = state;
  el.textContent = detail ? `${state}: ${detail}` : state;
  renderCursor();
}

function renderCursor() {
  const el = $("conn");
  const seq = inbox ? inbox.lastSeq : 0;
  el.dataset.lastSeq = String(seq);
  el.dataset.fromSeq = String(fromSeq);
  el.dataset.delivered = String(delivered);
  el.title = `${el.textContent}; inbox seq ${seq}, ${delivered} entries since seq ${fromSeq}`;
}

function showNotice(text) {
  notices.unshift(text);
  notices.length = Math.min(notices.length, 3);
  $("notice").textContent = notices.join(" · ");
}

// ------------------------------------------------------------------------------------------
// Login.

async function onLogin(event, register) {
  event.preventDefault();
  const user = $("user").value.trim();
  const password = $("password").value;
  $("login-error").textContent = "";
  if (!validId(user)) {
    $("login-error").textContent = "A user id is 1-64 characters of A-Z a-z 0-9 _ . -";
    return;
  }
  try {
    if (register) await api.register(user, password);
    const answer = await api.login(user, password, deviceId());
    localStorage.setItem("courier.session", JSON.stringify(answer));
    startSession(answer);
  } catch (e) {
    $("login-error").textContent =
      e.status === 409 ? "That user id is taken." : e.status === 401 ? "Wrong user id or password." : e.message;
  }
}

function startSession(answer) {
  session = answer;
  api.token = answer.token;
  api.onUnauthorized = () => endSession("your session ended; log in again");
  inbox = new InboxSequencer(loadCursor(), deliver);
  fromSeq = inbox.lastSeq;
  delivered = 0;
  $("me").textContent = answer.user_id;
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("logout").hidden = false;
  refreshConversations();
  connect();
  clearInterval(ackTimer);
  ackTimer = setInterval(ackNow, ACK_EVERY_MS);
  clearInterval(presenceTimer);
  presenceTimer = setInterval(refreshPresence, PRESENCE_EVERY_MS);
}

function endSession(why) {
  const ended = session;
  session = null;
  api.token = null;
  localStorage.removeItem("courier.session");
  disconnect();
  clearInterval(ackTimer);
  clearInterval(presenceTimer);
  convs.clear();
  current = null;
  presence.clear();
  typing.clear();
  $("chat-view").hidden = true;
  $("login-view").hidden = false;
  $("logout").hidden = true;
  $("me").textContent = "";
  if (ended) $("user").value = ended.user_id;
  $("password").value = "";
  $("login-error").textContent = why || "";
  setConn("offline");
  render();
}

async function onLogout() {
  try {
    await api.logout();
  } catch {
    // The session ends here either way; the server's ends with its token's expiry.
  }
  endSession("");
}

// ------------------------------------------------------------------------------------------
// MQTT over WebSocket. The login answer's mqtt block names the WebSocket (ws_url); a relative
// one is taken against the page's address.

function wsUrl(block) {
  if (!block.ws_url) return null;
  const u = new URL(block.ws_url, location.href);
  if (u.protocol === "http:") u.protocol = "ws:";
  if (u.protocol === "https:") u.protocol = "wss:";
  return u.toString();
}

function connect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
  if (!session) return;
  const block = session.mqtt;
  const url = wsUrl(block);
  if (!url) {
    setConn("offline", "the server names no WebSocket for MQTT (--mqtt-ws-url)");
    return;
  }
  disconnect();
  const generation = ++linkGeneration;
  setConn(reconnectAttempt ? "reconnecting" : "connecting");
  let refused = false;
  const client = mqtt.connect(url, {
    clientId: block.client_id,
    username: block.username,
    password: block.password,
    clean: true,
    keepalive: KEEPALIVE_S,
    protocolVersion: 4,
    reconnectPeriod: 0, // our own backoff, below
    connectTimeout: 8000,
    resubscribe: false,
  });
  link = client;
  const mine = () => generation === linkGeneration && session;
  client.on("connect", () => {
    if (!mine()) return;
    client.subscribe(
      { [block.topics.inbox]: { qos: 1 }, [block.topics.device]: { qos: 1 } },
      (err, granted) => {
        if (!mine()) return;
        if (err || granted.some((g) => g.qos > 2)) {
          client.end(true);
          return;
        }
        reconnectAttempt = 0;
        onSubscribed();
      },
    );
  });
  client.on("message", (topic, payload) => {
    if (mine()) onPush(topic, payload);
  });
  client.on("error", (err) => {
    // CONNACK "not authorized" (3.1.1 code 5): the token is no good here any more.
    if (err && (err.code === 5 || err.code === 135)) refused = true;
  });
  client.on("close", () => {
    if (!mine()) return;
    link = null;
    if (refused) {
      recheckSession();
    } else {
      scheduleReconnect();
    }
  });
}

function disconnect() {
  linkGeneration++;
  if (link) {
    link.end(true);
    link = null;
  }
  clearTimeout(reconnectTimer);
  reconnectTimer = null;
}

function scheduleReconnect() {
  if (!session || reconnectTimer) return;
  const base = Math.min(15000, 500 * 2 ** Math.min(reconnectAttempt, 5));
  const delay = Math.round(base * (0.5 + Math.random() / 2));
  reconnectAttempt++;
  setConn("reconnecting", `retry in ${Math.ceil(delay / 1000)} s`);
  reconnectTimer = setTimeout(connect, delay);
}

// A refused CONNECT: ask the uplink where (and whether) to connect (docs/api.md, GET /v1/mqtt).
async function recheckSession() {
  try {
    const block = await api.mqtt();
    session = { ...session, mqtt: block };
    localStorage.setItem("courier.session", JSON.stringify(session));
    scheduleReconnect();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return; // endSession ran
    scheduleReconnect();
  }
}

async function onSubscribed() {
  setConn("syncing");
  const ok = await catchUp();
  if (!session || !link || !link.connected) return;
  setConn("online", ok ? "" : "catching up failed; retrying");
  // What was missed arrived by sync; the list's unread counts are the server's.
  refreshConversations();
  if (current) {
    if (!current.historyLoaded) loadHistory(current);
    refreshPresence();
  }
}

function onPush(topic, payload) {
  let env;
  try {
    env = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return;
  }
  if (topic === session.mqtt.topics.device) {
    onControl(env);
    return;
  }
  if (env.type === "signal") {
    onSignal(env);
    return;
  }
  const r = inbox.offer(env);
  if (r === "delivered") saveCursor();
  if (r === "held") catchUp();
  if (r === "reset") onEpochReset();
}

function onControl(env) {
  if (env.event === "session.kicked") {
    const why = {
      login_elsewhere: "you logged in on another web browser",
      logout: "you logged out",
      revoked: "your session was revoked",
    }[env.reason];
    endSession(`Session ended: ${why || env.reason}.`);
  } else if (env.event === "broker.moved") {
    recheckSession();
  }
}

// ------------------------------------------------------------------------------------------
// Sync: from the cursor until has_more is false, through the sequencer; again while a hole
// waits to be filled. One run at a time; a request for another during a run repeats it.

function catchUp() {
  if (syncRun) {
    syncAgain = true;
    return syncRun;
  }
  syncRun = (async () => {
    try {
      for (let round = 0; round < 5; round++) {
        syncAgain = false;
        await syncToEnd();
        if (!syncAgain && !inbox.gap) return true;
      }
      return !inbox.gap;
    } catch (e) {
      if (!(e instanceof ApiError) || !e.retriable || !session) return false;
      setTimeout(() => session && catchUp(), (e.retryAfterS || 2) * 1000);
      return false;
    } finally {
      syncRun = null;
    }
  })();
  return syncRun;
}

async function syncToEnd() {
  for (;;) {
    const s = inbox;
    const page = await api.sync(s.lastSeq, 100);
    if (s !== inbox || !session) return;
    if (!s.checkEpoch(page.epoch)) {
      onEpochReset();
      continue;
    }
    let reset = false;
    for (const env of page.items) {
      if (s.offer(env) === "reset") {
        reset = true;
        break;
      }
    }
    saveCursor();
    if (reset) {
      onEpochReset();
      continue;
    }
    if (!page.has_more) break;
  }
  // Held entries the inbox no longer has (retention trimmed them) can never be filled: go on
  // from the oldest one still held, as the SDK does.
  if (inbox.gap && !syncAgain) {
    const page = await api.sync(inbox.lastSeq, 1);
    if (page.items.length === 0 || page.items[0].seq > inbox.lastSeq + 1) {
      inbox.skipGap();
      saveCursor();
    }
  }
}

// The server rebuilt this inbox: what the page showed may not match it any more.
function onEpochReset() {
  saveCursor();
  fromSeq = 0;
  delivered = 0;
  convs.clear();
  current = current ? getConv(current.conv) : null;
  render();
  refreshConversations();
  if (current) loadHistory(current);
  catchUp();
}

async function ackNow() {
  if (!session || !link || !link.connected || syncRun) return;
  try {
    const a = await api.ack(inbox.lastSeq);
    if (!inbox.checkEpoch(a.epoch)) onEpochReset();
    else if (a.latest_seq > inbox.lastSeq) catchUp();
  } catch {
    // The next tick tries again.
  }
}

// ------------------------------------------------------------------------------------------
// What the sequencer delivers: each inbox entry once, in seq order.

function getConv(id) {
  let c = convs.get(id);
  if (!c) {
    c = new Conversation(id, session.user_id);
    convs.set(id, c);
  }
  return c;
}

function viewing(conv) {
  return current === conv && document.visibilityState === "visible";
}

function deliver(env) {
  delivered++;
  if (env.type === "message") {
    if (env.conv.startsWith("r:")) return;
    const conv = getConv(env.conv);
    const added = conv.add(env);
    stopTyping(env.conv, env.from);
    if (added && env.from !== session.user_id) {
      if (viewing(conv)) markRead(conv);
      else conv.unread++;
    }
  } else if (env.type === "notification") {
    onNotification(env);
  }
  render();
}

function onNotification(env) {
  const d = env.data || {};
  switch (env.event) {
    case "message.recalled":
      getConv(d.conv).recall(d.conv_seq);
      break;
    case "receipt.read":
      if (d.user_id !== session.user_id) {
        const c = getConv(d.conv);
        c.peerReadMark = Math.max(c.peerReadMark, d.conv_seq);
      }
      break;
    case "friend.request":
      showNotice(`${d.from} sent you a friend request`);
      break;
    case "friend.accepted":
      showNotice(`${d.user_id} accepted your friend request`);
      break;
    case "group.created":
      showNotice(`${d.by} added you to the group ${d.name || d.group_id}`);
      getConv(`g:${d.group_id}`);
      break;
    case "group.member_added":
    case "group.member_removed":
    case "group.member_left":
      showNotice(`${env.event.slice(6).replace("_", " ")}: ${d.user_id} in ${d.group_id}`);
      break;
    default:
      break;
  }
}

function onSignal(env) {
  if (env.kind === "presence") {
    presence.set(env.from, { online: !!env.online, last_seen: env.online ? null : env.ts });
  } else if (env.kind === "typing" && env.from !== session.user_id && env.conv) {
    if (!typing.has(env.conv)) typing.set(env.conv, new Map());
    typing.get(env.conv).set(env.from, Date.now() + TYPING_SHOW_MS);
    setTimeout(render, TYPING_SHOW_MS + 50);
  }
  render();
}

function stopTyping(conv, user) {
  typing.get(conv)?.delete(user);
}

// ------------------------------------------------------------------------------------------
// Reads from the uplink: the conversation list, a conversation's history, presence.

async function refreshConversations() {
  if (!session) return;
  try {
    const list = await api.conversations();
    for (const item of list.items) {
      const c = getConv(item.conv);
      c.noteLast(item.last);
      c.unread = viewing(c) ? 0 : item.unread;
      if (viewing(c) && item.unread > 0) markRead(c);
    }
    render();
  } catch {
    // Shown again on the next catch-up.
  }
}

async function loadHistory(conv, older = false) {
  try {
    const page = await api.history(conv.conv, older ? conv.oldestConvSeq() : undefined);
    for (const env of page.items) conv.add(env);
    if (older || !conv.historyLoaded) conv.hasOlder = page.has_more;
    conv.historyLoaded = true;
    render();
  } catch (e) {
    if (e.status !== 401) showNotice(`history of ${conv.title}: ${e.message}`);
  }
}

async function refreshPresence() {
  const peer = current && current.peer;
  if (!session || !peer || peer === session.user_id) return;
  try {
    const p = await api.presence([peer]);
    if (p[peer]) presence.set(peer, p[peer]);
    render();
  } catch {
    // Keeps what the presence signals said.
  }
}

let readTimer = null;
function markRead(conv) {
  conv.unread = 0;
  clearTimeout(readTimer);
  readTimer = setTimeout(() => {
    const seq = conv.newestConvSeq();
    if (session && seq > 0) api.read(conv.conv, seq).catch(() => {});
  }, 300);
}

function openConv(id) {
  current = getConv(id);
  markRead(current);
  render();
  loadHistory(current);
  refreshPresence();
  $("text").focus();
}

// ------------------------------------------------------------------------------------------
// Sending: shown at once as pending, sent with a cmid, retried with the same cmid on no answer,
// 5xx and 429 (after Retry-After); a send that still fails keeps a Retry button.

function newCmid() {
  const r = crypto.getRandomValues(new Uint32Array(2));
  return `${session.device_id}-${Date.now().toString(36)}-${r[0].toString(36)}${r[1].toString(36)}`;
}

function onSend(event) {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !current) return;
  $("text").value = "";
  const cmid = newCmid();
  current.pending.set(cmid, { cmid, text, state: "sending", ts: Date.now() });
  render();
  trySend(current, cmid);
}

async function trySend(conv, cmid) {
  const p = conv.pending.get(cmid);
  if (!p) return;
  p.state = "sending";
  render();
  for (let attempt = 0; attempt < SEND_ATTEMPTS && session; attempt++) {
    try {
      const r = await api.send(conv.to, cmid, p.text);
      const env = {
        type: "message", id: r.id, conv: r.conv, conv_seq: r.conv_seq, from: session.user_id,
        to: conv.to, cmid, kind: "text", body: { text: p.text }, ts: r.ts,
      };
      getConv(r.conv).add(env);
      conv.pending.delete(cmid);
      render();
      return;
    } catch (e) {
      if (!(e instanceof ApiError) || !e.retriable) {
        p.state = "failed";
        p.error = e.message;
        render();
        return;
      }
      const wait = e.retryAfterS ? e.retryAfterS * 1000 : Math.min(8000, 500 * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  p.state = "failed";
  p.error = "no answer from the server";
  render();
}

function onTyping() {
  if (!current || !session) return;
  const now = Date.now();
  if (now - lastTypingSent < TYPING_SEND_EVERY_MS) return;
  lastTypingSent = now;
  api.signal(current.to, "typing").catch(() => {});
}

// ------------------------------------------------------------------------------------------
// Rendering: the whole visible state, once after each burst of changes (a sync page delivers
// many entries in one go). A microtask, not requestAnimationFrame, which a hidden tab never runs.

function render() {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    renderList();
    renderConv();
    renderCursor();
  });
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "data") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function timeOf(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function textOf(m) {
  if (m.recalled) return "(message recalled)";
  if (m.body && typeof m.body.text === "string") return m.body.text;
  return JSON.stringify(m.body);
}

function typers(convId) {
  const now = Date.now();
  const m = typing.get(convId);
  if (!m) return [];
  return [...m.entries()].filter(([, until]) => until > now).map(([u]) => u);
}

function renderList() {
  const list = $("conv-list");
  const items = [...convs.values()].sort(
    (a, b) => (b.last ? b.last.ts : 0) - (a.last ? a.last.ts : 0) || a.conv.localeCompare(b.conv),
  );
  list.replaceChildren(
    ...items.map((c) => {
      const who = typers(c.conv);
      const preview = who.length ? `${who.join(", ")} typing…` : c.last ? textOf(c.last) : "";
      return el(
        "li",
        {
          class: `conv${c === current ? " active" : ""}`,
          data: { conv: c.conv },
          onclick: () => openConv(c.conv),
        },
        el("span", { class: "conv-title" }, c.title),
        c.unread > 0 ? el("span", { class: "unread" }, String(c.unread)) : null,
        el("span", { class: "conv-preview" }, preview),
      );
    }),
  );
}

function renderConv() {
  const box = $("messages");
  $("conversation").hidden = !current;
  $("empty").hidden = !!current;
  if (!current) return;
  $("conv-title").textContent = current.title;
  const peer = current.peer;
  const p = peer && presence.get(peer);
  const pres = $("conv-presence");
  pres.dataset.online = p ? String(!!p.online) : "unknown";
  pres.textContent = !p ? "" : p.online ? "online" : p.last_seen ? `last seen ${timeOf(p.last_seen)}` : "offline";
  $("older").hidden = !current.hasOlder;

  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  const me = session.user_id;
  const msgs = current.messages();
  let lastMine = null;
  for (const m of msgs) if (m.from === me) lastMine = m;
  const rows = msgs.map((m) =>
    el(
      "li",
      {
        class: `msg${m.from === me ? " mine" : ""}${m.recalled ? " recalled" : ""}`,
        data: { convSeq: String(m.conv_seq), from: m.from, id: m.id },
      },
      el("span", { class: "from" }, m.from),
      el("span", { class: "text" }, textOf(m)),
      el("time", { datetime: new Date(m.ts).toISOString() }, timeOf(m.ts)),
      m === lastMine && current.peerReadMark >= m.conv_seq ? el("span", { class: "seen" }, "seen") : null,
    ),
  );
  for (const p of current.pending.values()) {
    rows.push(
      el(
        "li",
        { class: `msg mine pending ${p.state}`, data: { cmid: p.cmid } },
        el("span", { class: "from" }, me),
        el("span", { class: "text" }, p.text),
        el("span", { class: "state" }, p.state === "failed" ? `not sent (${p.error})` : "sending…"),
        p.state === "failed"
          ? el("button", { type: "button", class: "retry", onclick: () => trySend(current, p.cmid) }, "Retry")
          : null,
      ),
    );
  }
  box.replaceChildren(...rows);
  if (atBottom) box.scrollTop = box.scrollHeight;
  const who = typers(current.conv);
  $("typing").textContent = who.length ? `${who.join(", ")} ${who.length > 1 ? "are" : "is"} typing…` : "";
}

// ------------------------------------------------------------------------------------------
// Wiring.

function onNewChat(event) {
  event.preventDefault();
  const input = $("new-chat-user");
  const id = input.value.trim();
  if (!validId(id) || !session) {
    showNotice("a user id is 1-64 characters of A-Z a-z 0-9 _ . -");
    return;
  }
  input.value = "";
  openConv(directConv(session.user_id, id));
}

function main() {
  $("login-form").addEventListener("submit", (e) => onLogin(e, false));
  $("register").addEventListener("click", (e) => onLogin(e, true));
  $("logout").addEventListener("click", onLogout);
  $("new-chat").addEventListener("submit", onNewChat);
  $("composer").addEventListener("submit", onSend);
  $("text").addEventListener("input", onTyping);
  $("older").addEventListener("click", () => current && loadHistory(current, true));
  window.addEventListener("online", () => session && !link && connect());
  document.addEventListener("visibilitychange", () => {
    if (current && viewing(current) && current.unread > 0) markRead(current);
  });
  setConn("offline");
  try {
    const saved = JSON.parse(localStorage.getItem("courier.session") || "null");
    if (saved && saved.token && saved.expires_at > Date.now() + 60000) startSession(saved);
  } catch {
    localStorage.removeItem("courier.session");
  }
}

main();
