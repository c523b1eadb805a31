// One WebSocket connection speaking the sfuctl signaling protocol
// (server/signaling/protocol.py): requests {type, requestId, data} answered by
// {type: "response", requestId, ok, data | error}; anything else is an event {type, data}.

const REQUEST_TIMEOUT_MS = 15000;

export class RequestError extends Error {
  constructor(type, code, message) {
    super(`${type}: ${code}: ${message}`);
    this.type = type;
    this.code = code;
    this.detail = message; // the server's own words, for the user
  }
}

export class Signaling {
  /**
   * @param {string} url ws(s)://host/?token=...
   * @param {{onEvent: (type: string, data: any) => void, onClose: (code: number, reason: string) => void}} handlers
   */
  constructor(url, { onEvent, onClose }) {
    this.url = url;
    this.onEvent = onEvent;
    this.onClose = onClose;
    this.nextId = 1;
    this.pending = new Map();
    this.closed = false;
    this.ws = null;
  }

  /** Resolves once open; rejects if the server refuses the upgrade (e.g. a bad token). */
  open() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let opened = false;
      ws.onopen = () => {
        opened = true;
        resolve();
      };
      ws.onmessage = (message) => this.receive(message.data);
      ws.onclose = (event) => {
        const wasOpen = opened;
        this.shutdown(`websocket closed (${event.code})`);
        if (!wasOpen) reject(Object.assign(new Error(`websocket refused (${event.code})`), { refused: true }));
        else this.onClose(event.code, event.reason);
      };
    });
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (frame.type === 'response') {
      const waiter = this.pending.get(frame.requestId);
      if (!waiter) return;
      this.pending.delete(frame.requestId);
      clearTimeout(waiter.timer);
      if (frame.ok) waiter.resolve(frame.data);
      else waiter.reject(new RequestError(waiter.type, frame.error.code, frame.error.message));
      return;
    }
    this.onEvent(frame.type, frame.data || {});
  }

  request(type, data = {}) {
    if (this.closed || !this.ws || this.ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new Error(`${type}: not connected`));
    }
    const requestId = String(this.nextId++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new Error(`${type}: no answer in ${REQUEST_TIMEOUT_MS / 1000} s`));
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(requestId, { resolve, reject, timer, type });
      this.ws.send(JSON.stringify({ type, requestId, data }));
    });
  }

  shutdown(reason) {
    this.closed = true;
    for (const waiter of this.pending.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`${waiter.type}: ${reason}`));
    }
    this.pending.clear();
  }

  /** Close on purpose: onClose is not called. */
  close(code = 1000) {
    this.onClose = () => {};
    this.shutdown('closed');
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(code);
  }
}
