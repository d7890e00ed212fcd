// What the page shows of one conversation: its messages by conv_seq, each once, in conv_seq
// order, however it learnt of them (history page, sync, push, its own send's answer), plus the
// sends still on their way, keyed by cmid. Pure: no DOM, no I/O.

export class Conversation {
  constructor(conv, me) {
    this.conv = conv;
    this.me = me;
    this.byConvSeq = new Map(); // conv_seq -> message envelope
    this.pending = new Map(); // cmid -> {cmid, text, state: "sending" | "failed", ts}
    this.unread = 0;
    this.last = null; // the newest message envelope
    this.peerReadMark = 0; // receipt.read from the other user of a one-to-one chat
    this.historyLoaded = false;
    this.hasOlder = false;
  }

  // "u:alice:bob" seen by alice -> "bob"; a group -> null.
  get peer() {
    if (!this.conv.startsWith("u:")) return null;
    const [, a, b] = this.conv.split(":");
    return a === this.me ? b : a;
  }

  // Where a send to this conversation goes.
  get to() {
    if (this.conv.startsWith("u:")) return `user:${this.peer}`;
    if (this.conv.startsWith("g:")) return `group:${this.conv.slice(2)}`;
    return `room:${this.conv.slice(2)}`;
  }

  get title() {
    return this.peer ?? this.conv.slice(2);
  }

  // Adds a message; false when it is already here (the same conv_seq).
  add(env) {
    if (!Number.isSafeInteger(env.conv_seq)) return false;
    if (env.cmid && env.from === this.me) this.pending.delete(env.cmid);
    const known = this.byConvSeq.get(env.conv_seq);
    if (known) {
      if (env.recalled && !known.recalled) this.byConvSeq.set(env.conv_seq, env);
      return false;
    }
    this.byConvSeq.set(env.conv_seq, env);
    if (!this.last || env.conv_seq > this.last.conv_seq) this.last = env;
    return true;
  }

  // The newest message as the conversation list names it: for the list's preview and order
  // only, so that the conversation itself never shows a message past a hole.
  noteLast(env) {
    if (env && Number.isSafeInteger(env.conv_seq) && (!this.last || env.conv_seq > this.last.conv_seq)) {
      this.last = env;
    }
  }

  recall(convSeq) {
    const m = this.byConvSeq.get(convSeq);
    if (m) this.byConvSeq.set(convSeq, { ...m, recalled: true, body: null });
  }

  // Messages in conv_seq order, then the pending sends in the order they were made.
  messages() {
    return [...this.byConvSeq.values()].sort((x, y) => x.conv_seq - y.conv_seq);
  }

  newestConvSeq() {
    return this.last ? this.last.conv_seq : 0;
  }

  oldestConvSeq() {
    let min = Infinity;
    for (const k of this.byConvSeq.keys()) min = Math.min(min, k);
    return min === Infinity ? 0 : min;
  }
}

// The one-to-one conversation id of two users (SPEC §2): "u:<a>:<b>", a < b bytewise.
export function directConv(x, y) {
  return x < y ? `u:${x}:${y}` : `u:${y}:${x}`;
}

// A user, group or room id (SPEC §2).
export function validId(id) {
  return typeof id === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(id);
}
