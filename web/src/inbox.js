// The inbox contract of SPEC §5 for the page, as the C++ SDK's InboxSequencer keeps it: every
// inbox entry (message or notification, each with a `seq`) reaches the app exactly once and in
// `seq` order, whether it came by push, by sync, or by both.
//
//   seq <= lastSeq      a duplicate: dropped
//   seq == lastSeq + 1  delivered, then any held entries that now follow
//   seq >  lastSeq + 1  held; `gap` is true until a sync fills the hole
//
// A different `epoch` means the server rebuilt the inbox: lastSeq is void, everything held is
// dropped, and the owner must sync from 0 (offer() answers "reset"). Pure: no I/O, no timers.

export class InboxSequencer {
  // deliver(envelope) is called once per entry, in seq order.
  constructor({ lastSeq = 0, epoch = null } = {}, deliver) {
    this.lastSeq = lastSeq;
    this.epoch = epoch;
    this.deliver = deliver;
    this.held = new Map(); // seq -> envelope, all > lastSeq + 1
  }

  // True while entries past a hole wait for a sync.
  get gap() {
    return this.held.size > 0;
  }

  // Takes one inbox entry. Answers "delivered", "duplicate", "held", or "reset" (a new epoch:
  // the entry was not taken; sync from 0).
  offer(env) {
    if (typeof env.seq !== "number" || !Number.isSafeInteger(env.seq) || env.seq < 1) {
      return "duplicate"; // not an inbox entry; signals never reach here
    }
    if (env.epoch !== undefined && env.epoch !== null && env.epoch !== this.epoch) {
      if (this.epoch !== null) {
        this.resetTo(env.epoch);
        return "reset";
      }
      this.epoch = env.epoch;
    }
    if (env.seq <= this.lastSeq || this.held.has(env.seq)) return "duplicate";
    if (env.seq > this.lastSeq + 1) {
      this.held.set(env.seq, env);
      return "held";
    }
    this.lastSeq = env.seq;
    this.deliver(env);
    for (let next = this.held.get(this.lastSeq + 1); next; next = this.held.get(this.lastSeq + 1)) {
      this.held.delete(next.seq);
      this.lastSeq = next.seq;
      this.deliver(next);
    }
    return "delivered";
  }

  // A sync page or an ack answer names the inbox's epoch: false (and a reset) when it changed.
  checkEpoch(epoch) {
    if (!epoch) return true;
    if (this.epoch === null) {
      this.epoch = epoch;
      return true;
    }
    if (epoch === this.epoch) return true;
    this.resetTo(epoch);
    return false;
  }

  // The hole before the held entries can never be filled (the inbox no longer has it): go on
  // from the oldest held entry.
  skipGap() {
    if (this.held.size === 0) return;
    const first = Math.min(...this.held.keys());
    const env = this.held.get(first);
    this.held.delete(first);
    this.lastSeq = first - 1;
    this.offer(env);
  }

  resetTo(epoch) {
    this.epoch = epoch;
    this.lastSeq = 0;
    this.held.clear();
  }
}
