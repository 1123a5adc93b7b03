// Check-ins waiting to be sent, kept in IndexedDB so that a report made without a network (or
// with the app closed before it went out) is sent later, exactly once.
//
// Every check-in goes through here, online or not: it is stored first, with its photo, its
// capture time and the Idempotency-Key made when the photo was taken, and removed only after
// the server answered 2xx. A retry sends the very same request, so the server recognises it
// and answers with the check-in it already has instead of storing a second one.

const DATABASE = "reportin";
const STORE = "outbox";

function database() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "key" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function transact(mode, work) {
  const db = await database();
  try {
    return await new Promise((resolve, reject) => {
      const transaction = db.transaction(STORE, mode);
      const result = work(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(result.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
  } finally {
    db.close();
  }
}

// entry: {key, selfie (Blob) or frames (Blob[]) with challenge (nonce), latitude, longitude, accuracy_m, captured_at, address?,
// employment?, family_status?, state: "waiting" | "failed", error?: {code, message}}
export function add(entry) {
  return transact("readwrite", (store) => store.add({ ...entry, state: "waiting" }));
}

export async function entries() {
  const all = await transact("readonly", (store) => store.getAll());
  return all.sort((a, b) => a.captured_at.localeCompare(b.captured_at));
}

export function remove(key) {
  return transact("readwrite", (store) => store.delete(key));
}

// Send again one that failed (after the person fixed the cause, e.g. gave consent again).
export async function retry(key) {
  const entry = (await entries()).find((item) => item.key === key);
  if (entry) {
    await transact("readwrite", (store) => store.put({ ...entry, state: "waiting", error: null }));
  }
}

let running = null;

// Send every waiting entry, oldest first, with send(entry) -> the server's answer. Stops at
// the first entry that got no answer (or a "try later" one) and reports it in `retry`.
// An entry the server refused for good is marked failed with the server's message, for the
// person to see; it is not sent again by itself.
//
// One flush at a time, across all of the app's tabs: two tabs sending the same entry at once
// would both succeed (the server answers the second with the first's check-in), but each
// would then report it as sent. Calls made while one runs share its result.
export function flush(send) {
  if (!running) {
    const drain = () => drainAll(send);
    const locked = navigator.locks ? navigator.locks.request("reportin-outbox", drain) : drain();
    running = locked.finally(() => {
      running = null;
    });
  }
  return running;
}

async function drainAll(send) {
  const result = { sent: [], failed: [], retry: null };
  for (;;) {
    // Read again each round: entries added while sending are sent in this same flush.
    const waiting = (await entries()).filter((entry) => entry.state === "waiting");
    if (waiting.length === 0) {
      return result;
    }
    const entry = waiting[0];
    try {
      const answer = await send(entry);
      await remove(entry.key);
      result.sent.push({ entry, answer });
    } catch (error) {
      if (error.final) {
        const failed = { ...entry, state: "failed", error: { code: error.code, message: error.message } };
        await transact("readwrite", (store) => store.put(failed));
        result.failed.push(failed);
      } else {
        result.retry = { error, retryAfter: error.retryAfter || null };
        return result;
      }
    }
  }
}
