// End-to-end test of the web chat page in a real browser: Debian's headless Chromium, driven by
// playwright-core, against a stack started by scripts/run-stack (the uplink serves the page, the
// WebSocket bridge carries MQTT to the broker).
//
//   1. alice and bob register in two browser contexts; each sees the other's messages live,
//      bob's typing shows on alice's page, and bob shows as online.
//   2. bob's network drops (his WebSocket is closed and refused): his page says so; alice sends
//      5 messages. His network comes back: he reconnects and subscribes, but his catch-up sync is
//      held (a slow network) while alice sends 3 more, which reach him live past the hole. Once
//      the sync answers, bob sees all 8 exactly once, in order, and never the later ones first.
//   3. bob closes his tab; alice sends 3 more; bob opens the page again: the saved session resumes,
//      3 unread, and the conversation shows every message of the test exactly once, in order.
//   4. alice logs in on a second browser: her first page's session ends (single sign-on,
//      session.kicked on the device topic) and it says why.
//   5. carol (over the API) makes a group with bob and writes; bob sees it, answers; carol
//      recalls her message and bob's page shows it recalled; bob's next send gets 503 twice and
//      goes through on the third try, with the same cmid each time, shown once.
// Screenshots of both pages at each step go to COURIER_SCREENSHOT_DIR (default
// <build>/web-screenshots).
//
// Usage: node tests/e2e/web_chat.cjs
//   COURIER_BUILD_DIR   the build with the binaries and the page (default build/)
//   COURIER_WEB_DEPS    where npm ci put playwright-core (default <build>/web-deps)
//   COURIER_CHROMIUM    the browser (default /usr/bin/chromium)
//   COURIER_KEEP_TEST_DIRS=1 keeps the stack's data dir and logs
"use strict";

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const root = path.resolve(__dirname, "../..");
const buildDir = path.resolve(process.env.COURIER_BUILD_DIR || path.join(root, "build"));
const depsDir = process.env.COURIER_WEB_DEPS || path.join(buildDir, "web-deps");
const chromiumPath = process.env.COURIER_CHROMIUM || "/usr/bin/chromium";
const shotDir = process.env.COURIER_SCREENSHOT_DIR || path.join(buildDir, "web-screenshots");
const OFFLINE_BURST = 5;
const DURING_SYNC = 3;
const WHILE_CLOSED = 3;

const t0 = Date.now();
const say = (...a) => console.log(`[web_chat ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let work = null;
let stack = null;
let browser = null;
let passed = false;

function fail(msg) {
  throw new Error(msg);
}

// Polls fn() until it returns a truthy value; fails with what() after timeoutMs.
async function until(what, fn, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) fail(`timed out waiting for ${typeof what === "function" ? what() : what}`);
    await sleep(100);
  }
}

// ------------------------------------------------------------------------------------------
// The stack.

// stack.env is shell (printf %q); its values here are paths, URLs and numbers.
function readStackEnv(file) {
  const env = {};
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2] === "''" ? "" : m[2].replace(/\\(.)/g, "$1");
  }
  return env;
}

async function startStack() {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "courier-web-"));
  const dataDir = path.join(work, "stack");
  const out = fs.openSync(path.join(work, "run-stack.out"), "w");
  say(`starting scripts/run-stack --no-build --free-ports --data-dir ${dataDir}`);
  stack = spawn(
    path.join(root, "scripts/run-stack"),
    ["--no-build", "--free-ports", "--build-dir", buildDir, "--data-dir", dataDir],
    { stdio: ["ignore", out, out] },
  );
  const envFile = path.join(dataDir, "stack.env");
  await until(
    "the stack to be ready (stack.env)",
    () => {
      if (stack.exitCode !== null) fail(`run-stack exited with ${stack.exitCode}`);
      return fs.existsSync(envFile);
    },
    120000,
  );
  const env = readStackEnv(envFile);
  if (!env.COURIER_WEB_URL) fail("the stack serves no web page: is the build's web/ there?");
  if (!env.COURIER_MQTT_WS_URL) fail("the stack has no WebSocket bridge: is websockify installed?");
  say(`stack ready: page ${env.COURIER_WEB_URL}, MQTT WebSocket ${env.COURIER_MQTT_WS_URL}`);
  return env;
}

async function stopStack() {
  if (!stack || stack.exitCode !== null) return;
  stack.kill("SIGTERM");
  const deadline = Date.now() + 30000;
  while (stack.exitCode === null && Date.now() < deadline) await sleep(100);
  if (stack.exitCode === null) stack.kill("SIGKILL");
}

function showLogs() {
  if (!work) return;
  const files = [path.join(work, "run-stack.out")];
  const logDir = path.join(work, "stack", "logs");
  if (fs.existsSync(logDir)) for (const f of fs.readdirSync(logDir)) files.push(path.join(logDir, f));
  for (const f of files) {
    if (!fs.existsSync(f)) continue;
    const lines = fs.readFileSync(f, "utf8").trimEnd().split("\n");
    console.log(`----- ${f} (last 30 lines) -----\n${lines.slice(-30).join("\n")}`);
  }
}

// ------------------------------------------------------------------------------------------
// The pages.

async function shot(page, name) {
  const file = path.join(shotDir, `${name}.png`);
  await page.screenshot({ path: file });
  say(`screenshot ${file}`);
}

function watchConsole(page, who) {
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") say(`${who} console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => say(`${who} page error: ${e.message}`));
}

const connState = (page) => page.getAttribute("#conn", "data-state");

async function waitOnline(page, who) {
  await until(`${who}'s page to be online`, async () => (await connState(page)) === "online", 30000);
}

async function register(page, who, url) {
  await page.goto(url);
  await page.fill("#user", who);
  await page.fill("#password", `${who}-password`);
  await page.click("#register");
  await page.waitForSelector("#chat-view:not([hidden])");
  await waitOnline(page, who);
}

async function openChat(page, conv) {
  await page.click(`#conv-list li[data-conv="${conv}"]`);
  await page.waitForSelector("#conversation:not([hidden])");
}

// Sends a message and waits for the server's answer (the pending row is gone).
async function send(page, text) {
  await page.fill("#text", text);
  await page.click("#send");
  await until(`"${text}" to be sent`, async () => (await page.$$("#messages .msg.pending")).length === 0);
}

// The texts of the open conversation's messages, as shown, top to bottom.
const shown = (page) =>
  page.$$eval("#messages .msg:not(.pending) .text", (els) => els.map((e) => e.textContent));

// Waits until the conversation shows exactly `expected`, in that order; then checks it still
// does a moment later (a late duplicate would show up by then).
async function expectExactly(page, who, expected) {
  let actual = [];
  try {
    await until("", async () => {
      actual = await shown(page);
      return actual.length >= expected.length;
    });
  } catch {
    // Reported below with what was shown.
  }
  await sleep(1500);
  actual = await shown(page);
  const same = actual.length === expected.length && actual.every((t, i) => t === expected[i]);
  if (!same) {
    const counts = new Map();
    for (const t of actual) counts.set(t, (counts.get(t) || 0) + 1);
    const dups = [...counts].filter(([, n]) => n > 1).map(([t, n]) => `${t} x${n}`);
    const missing = expected.filter((t) => !counts.has(t));
    fail(
      `${who} shows ${actual.length} messages, expected ${expected.length} once each in order` +
        `${dups.length ? `; duplicated: ${dups.join(", ")}` : ""}` +
        `${missing.length ? `; missing: ${missing.join(", ")}` : ""}` +
        `\n  shown:    ${JSON.stringify(actual)}\n  expected: ${JSON.stringify(expected)}`,
    );
  }
  // Behind the view, which keys messages by conv_seq: the page's inbox took each entry once.
  const c = await page.$eval("#conn", (e) => ({ ...e.dataset }));
  const span = Number(c.lastSeq) - Number(c.fromSeq);
  if (Number(c.delivered) !== span) {
    fail(`${who}'s page delivered ${c.delivered} inbox entries for seq ${c.fromSeq}..${c.lastSeq} (${span}): not each once`);
  }
  say(`${who} shows all ${expected.length} messages once, in order (inbox: ${c.delivered} entries, seq ${c.fromSeq}..${c.lastSeq})`);
}

// ------------------------------------------------------------------------------------------

async function main() {
  if (!fs.existsSync(chromiumPath)) fail(`${chromiumPath} is missing: run scripts/setup (package chromium)`);
  const pw = path.join(depsDir, "node_modules", "playwright-core");
  if (!fs.existsSync(pw)) fail(`${pw} is missing: build the courier-web target (it runs npm ci)`);
  const { chromium } = require(pw);
  fs.mkdirSync(shotDir, { recursive: true });

  const env = await startStack();
  const url = env.COURIER_WEB_URL;
  const conv = "u:alice:bob";

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // As root there is no sandbox; this machine's network is closed, so nothing in the
    // background may try to reach out.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const viewport = { width: 1000, height: 640 };
  const aliceCtx = await browser.newContext({ viewport });
  const bobCtx = await browser.newContext({ viewport });

  // bob's network, as far as his WebSocket goes: up, or dropped (connections closed and refused).
  let bobNetworkUp = true;
  const bobSockets = new Set();
  await bobCtx.routeWebSocket(/.*/, (ws) => {
    if (!bobNetworkUp) {
      ws.close({ code: 4000, reason: "test: network down" });
      return;
    }
    const server = ws.connectToServer();
    const entry = { ws, server };
    bobSockets.add(entry);
    ws.onClose(() => bobSockets.delete(entry));
  });

  const alice = await aliceCtx.newPage();
  let bob = await bobCtx.newPage();
  watchConsole(alice, "alice");
  watchConsole(bob, "bob");

  // ----- 1. Live chat both ways, typing, presence.
  await alice.goto(url);
  await shot(alice, "01-login");
  await register(alice, "alice", url);
  await register(bob, "bob", url);
  say("alice and bob registered and connected");

  const expected = [];
  await alice.fill("#new-chat-user", "bob");
  await alice.press("#new-chat-user", "Enter");
  await alice.waitForSelector("#conversation:not([hidden])");
  await send(alice, "Hi Bob!");
  expected.push("Hi Bob!");
  await until("bob's conversation list to show alice", () => bob.$(`#conv-list li[data-conv="${conv}"]`));
  await openChat(bob, conv);
  await expectExactly(bob, "bob", expected);

  await bob.locator("#text").pressSequentially("Hi Ali", { delay: 20 });
  await until("alice to see bob typing", async () =>
    (await alice.textContent("#typing")).includes("bob is typing"));
  say("alice sees 'bob is typing…'");
  await shot(alice, "02-alice-sees-typing");
  await bob.fill("#text", "Hi Alice, how are you?");
  await bob.click("#send");
  expected.push("Hi Alice, how are you?");
  await expectExactly(alice, "alice", expected);
  await until("alice to see bob online", async () =>
    (await alice.getAttribute("#conv-presence", "data-online")) === "true");
  say("alice sees bob online");
  await shot(alice, "02-alice-chatting");
  await shot(bob, "02-bob-chatting");

  // ----- 2. bob's network drops; alice sends; it comes back, with a slow catch-up sync.
  bobNetworkUp = false;
  for (const { ws, server } of bobSockets) {
    await server.close({ code: 4000, reason: "test: network down" }).catch(() => {});
    await ws.close({ code: 4000, reason: "test: network down" }).catch(() => {});
  }
  await until("bob's page to notice it is offline", async () =>
    ["reconnecting", "connecting"].includes(await connState(bob)));
  say(`bob is offline (${await bob.textContent("#conn")}); alice sends ${OFFLINE_BURST}`);
  for (let i = 1; i <= OFFLINE_BURST; i++) {
    await send(alice, `while bob was offline ${i}`);
    expected.push(`while bob was offline ${i}`);
  }
  await sleep(1000);
  if ((await shown(bob)).length !== 2) fail("bob's page showed messages while his network was down");
  await shot(bob, "03-bob-offline");

  // Hold bob's next sync until alice has sent more, which reach him live meanwhile.
  let releaseSync;
  const syncGate = new Promise((r) => (releaseSync = r));
  let syncsHeld = 0;
  const holdSync = async (route) => {
    syncsHeld++;
    await syncGate;
    await route.continue().catch(() => {}); // the page may be gone by then
  };
  const isSync = (u) => u.pathname === "/v1/sync";
  await bob.route(isSync, holdSync);
  bobNetworkUp = true;
  await until("bob to reconnect, subscribe and ask for a sync", () => syncsHeld > 0, 30000);
  say("bob reconnected; his catch-up sync is held while alice sends more");
  for (let i = 1; i <= DURING_SYNC; i++) {
    await send(alice, `during bob's sync ${i}`);
    expected.push(`during bob's sync ${i}`);
  }
  await sleep(1000); // their pushes reach bob's page, past the hole the sync will fill
  const early = await shown(bob);
  if (early.length !== 2) {
    fail(`bob's page showed messages out of order, before the sync filled the hole: ${JSON.stringify(early)}`);
  }
  releaseSync(); // this and later syncs go through (the route stays, its gate open)
  await expectExactly(bob, "bob", expected);
  await waitOnline(bob, "bob");
  await shot(bob, "04-bob-caught-up");

  // ----- 3. bob closes the tab; alice sends; bob opens the page again.
  await bob.close();
  say(`bob closed his tab; alice sends ${WHILE_CLOSED}`);
  for (let i = 1; i <= WHILE_CLOSED; i++) {
    await send(alice, `while bob's tab was closed ${i}`);
    expected.push(`while bob's tab was closed ${i}`);
  }
  bob = await bobCtx.newPage();
  watchConsole(bob, "bob");
  await bob.goto(url);
  await bob.waitForSelector("#chat-view:not([hidden])");
  await waitOnline(bob, "bob");
  const unread = `#conv-list li[data-conv="${conv}"] .unread`;
  await until(`bob's list to show ${WHILE_CLOSED} unread`, async () =>
    (await bob.$(unread)) !== null && (await bob.textContent(unread)) === String(WHILE_CLOSED));
  await shot(bob, "05-bob-back-list");
  await openChat(bob, conv);
  await expectExactly(bob, "bob", expected);
  await expectExactly(alice, "alice", expected);
  await shot(bob, "06-bob-back");
  await shot(alice, "06-alice");

  // ----- 4. Single sign-on: alice logs in on another browser; the first page's session ends.
  const alice2Ctx = await browser.newContext({ viewport });
  const alice2 = await alice2Ctx.newPage();
  watchConsole(alice2, "alice2");
  await alice2.goto(url);
  await alice2.fill("#user", "alice");
  await alice2.fill("#password", "alice-password");
  await alice2.click("#login");
  await waitOnline(alice2, "alice's second browser");
  await alice.waitForSelector("#login-view:not([hidden])", { timeout: 15000 });
  const why = await alice.textContent("#login-error");
  if (!why.includes("another web browser")) fail(`alice's first page says: ${JSON.stringify(why)}`);
  say(`alice's first page ended its session: "${why}"`);
  await shot(alice, "07-alice-kicked");

  // ----- 5. A group, a recall, and a send retried with the same cmid.
  const api = async (method, p, body, token) => {
    const r = await fetch(env.COURIER_HTTP_URL + p, {
      method,
      headers: token ? { Authorization: `Bearer ${token}` } : {},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, json: text ? JSON.parse(text) : null };
  };
  await api("POST", "/v1/users", { user_id: "carol", password: "carol-password" });
  const carol = (await api("POST", "/v1/sessions", { user_id: "carol", password: "carol-password", device_id: "cli" })).json.token;
  const created = await api("POST", "/v1/groups", { group_id: "team", name: "Team", members: ["bob"] }, carol);
  if (created.status !== 201) fail(`creating the group: ${created.status}`);
  const hello = await api("POST", "/v1/messages", { to: "group:team", cmid: "team-1", body: { text: "Hello team" } }, carol);
  if (hello.status !== 201) fail(`carol's group message: ${hello.status}`);
  await until("bob's list to show the group", () => bob.$('#conv-list li[data-conv="g:team"]'));
  await openChat(bob, "g:team");
  await send(bob, "Hi carol");
  await expectExactly(bob, "bob", ["Hello team", "Hi carol"]);
  const recalled = await api("DELETE", `/v1/messages/${hello.json.id}`, undefined, carol);
  if (recalled.status !== 204) fail(`carol's recall: ${recalled.status}`);
  await expectExactly(bob, "bob", ["(message recalled)", "Hi carol"]);
  // The uplink answers bob's next two sends 503 (Retry-After 1): the page retries, same cmid.
  const cmids = [];
  const flaky = async (route) => {
    cmids.push(JSON.parse(route.request().postData()).cmid);
    if (cmids.length <= 2) {
      await route.fulfill({ status: 503, contentType: "application/json", headers: { "Retry-After": "1" },
        body: '{"error":{"code":"unavailable","message":"test: try again"}}' });
    } else {
      await route.continue().catch(() => {});
    }
  };
  const isSend = (u) => u.pathname === "/v1/messages";
  await bob.route(isSend, flaky);
  await send(bob, "sent on the third try");
  if (cmids.length !== 3 || new Set(cmids).size !== 1) fail(`the retries' cmids: ${JSON.stringify(cmids)}`);
  say(`bob's send answered 503 twice, then sent: the same cmid all three times`);
  await expectExactly(bob, "bob", ["(message recalled)", "Hi carol", "sent on the third try"]);
  await shot(bob, "08-bob-group");
  passed = true;
  say(`PASS: ${expected.length} messages, each shown once and in order on both pages; the group,`,
    "the recall and the retried send as expected");
}

// A sanitizer build's components print their reports into their logs and may leave no other
// trace: any report there fails the test (read once the stack has stopped, so a report written on
// the way out counts too).
function sanitizerReportsOk() {
  const logDir = path.join(work, "stack", "logs");
  if (!fs.existsSync(logDir)) return true;
  const marks = ["ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"];
  let ok = true;
  for (const f of fs.readdirSync(logDir)) {
    const text = fs.readFileSync(path.join(logDir, f), "utf8");
    const at = Math.min(...marks.map((m) => text.indexOf(m)).filter((i) => i >= 0));
    if (!Number.isFinite(at)) continue;
    console.error(`[web_chat] FAILED: sanitizer report in ${f}:\n${text.slice(at, at + 4000)}`);
    ok = false;
  }
  return ok;
}

// Whatever happens, the stack does not outlive the test: an error thrown outside main's chain
// (in a route handler, say) or a signal stops it too.
function stopStackNow(why) {
  console.error(`[web_chat] FAILED: ${why}`);
  if (stack && stack.exitCode === null) stack.kill("SIGTERM");
  process.exit(1);
}
process.on("uncaughtException", (e) => stopStackNow(`uncaught: ${e.stack || e}`));
process.on("unhandledRejection", (e) => stopStackNow(`unhandled rejection: ${e && e.stack ? e.stack : e}`));
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => stopStackNow(sig));

main()
  .catch((e) => {
    console.error(`[web_chat] FAILED: ${e.message}`);
    showLogs();
    process.exitCode = 1;
  })
  .finally(async () => {
    if (browser) await browser.close().catch(() => {});
    await stopStack();
    if (work && !sanitizerReportsOk()) {
      passed = false;
      process.exitCode = 1;
    }
    if (work) {
      if (passed && !process.env.COURIER_KEEP_TEST_DIRS) fs.rmSync(work, { recursive: true, force: true });
      else console.log(`web_chat: data dir and logs kept in ${work}`);
    }
  });
