// The page's inbox contract (src/inbox.js) and conversation model (src/conversation.js), without
// a browser: node --test web/test/
import assert from "node:assert/strict";
import { test } from "node:test";

import { Conversation, directConv, validId } from "../src/conversation.js";
import { InboxSequencer } from "../src/inbox.js";

const msg = (seq, extra = {}) => ({ seq, epoch: "e1", type: "message", conv: "u:a:b", conv_seq: seq, ...extra });

function sequencer(start = {}) {
  const out = [];
  const s = new InboxSequencer(start, (e) => out.push(e.seq));
  return { s, out };
}

test("in order: each entry once", () => {
  const { s, out } = sequencer();
  assert.equal(s.offer(msg(1)), "delivered");
  assert.equal(s.offer(msg(2)), "delivered");
  assert.equal(s.offer(msg(2)), "duplicate");
  assert.equal(s.offer(msg(1)), "duplicate");
  assert.deepEqual(out, [1, 2]);
  assert.equal(s.lastSeq, 2);
});

test("a gap holds later entries until it is filled, then delivers in seq order", () => {
  const { s, out } = sequencer({ lastSeq: 3, epoch: "e1" });
  assert.equal(s.offer(msg(6)), "held");
  assert.equal(s.offer(msg(5)), "held");
  assert.equal(s.offer(msg(6)), "duplicate");
  assert.ok(s.gap);
  assert.deepEqual(out, []);
  assert.equal(s.offer(msg(4)), "delivered");
  assert.deepEqual(out, [4, 5, 6]);
  assert.ok(!s.gap);
});

test("push and sync overlapping: every entry once, in order", () => {
  const { s, out } = sequencer({ lastSeq: 10, epoch: "e1" });
  // Pushes 14..16 arrive while the sync page 11..15 is on its way.
  for (const seq of [14, 15, 16]) s.offer(msg(seq));
  for (const seq of [11, 12, 13, 14, 15]) s.offer(msg(seq));
  s.offer(msg(16));
  assert.deepEqual(out, [11, 12, 13, 14, 15, 16]);
});

test("a new epoch resets the cursor and asks for a sync from 0", () => {
  const { s, out } = sequencer({ lastSeq: 7, epoch: "e1" });
  s.offer(msg(9));
  assert.equal(s.offer(msg(8, { epoch: "e2" })), "reset");
  assert.equal(s.lastSeq, 0);
  assert.equal(s.epoch, "e2");
  assert.ok(!s.gap);
  assert.equal(s.checkEpoch("e2"), true);
  assert.equal(s.checkEpoch("e3"), false);
  assert.deepEqual(out, []);
});

test("the first epoch seen is adopted", () => {
  const { s } = sequencer();
  assert.equal(s.checkEpoch("e1"), true);
  assert.equal(s.offer(msg(1)), "delivered");
});

test("skipGap goes on from the oldest held entry", () => {
  const { s, out } = sequencer({ lastSeq: 2, epoch: "e1" });
  s.offer(msg(7));
  s.offer(msg(8));
  s.skipGap();
  assert.deepEqual(out, [7, 8]);
  assert.equal(s.lastSeq, 8);
});

test("conversation: one message per conv_seq, in conv_seq order, pending cleared by its cmid", () => {
  const c = new Conversation("u:alice:bob", "alice");
  assert.equal(c.peer, "bob");
  assert.equal(c.to, "user:bob");
  c.pending.set("c1", { cmid: "c1", text: "hi" });
  assert.ok(c.add({ conv_seq: 2, from: "bob", ts: 2 }));
  assert.ok(c.add({ conv_seq: 1, from: "alice", cmid: "c1", ts: 1 }));
  assert.ok(!c.add({ conv_seq: 2, from: "bob", ts: 2 }));
  assert.deepEqual(c.messages().map((m) => m.conv_seq), [1, 2]);
  assert.equal(c.pending.size, 0);
  c.recall(1);
  assert.equal(c.messages()[0].recalled, true);
  assert.equal(new Conversation("g:team", "alice").to, "group:team");
});

test("conversation: the list's newest message moves the preview, never into the messages", () => {
  const c = new Conversation("u:alice:bob", "alice");
  c.add({ conv_seq: 1, from: "bob", ts: 1 });
  c.noteLast({ conv_seq: 5, from: "bob", ts: 5 });
  assert.equal(c.last.conv_seq, 5);
  assert.deepEqual(c.messages().map((m) => m.conv_seq), [1]);
  c.noteLast({ conv_seq: 3, from: "bob", ts: 3 });
  assert.equal(c.last.conv_seq, 5);
});

test("ids", () => {
  assert.equal(directConv("bob", "alice"), "u:alice:bob");
  assert.equal(directConv("alice", "bob"), "u:alice:bob");
  assert.ok(validId("web-01.a_b"));
  assert.ok(!validId("a b"));
  assert.ok(!validId(""));
  assert.ok(!validId("x".repeat(65)));
});
