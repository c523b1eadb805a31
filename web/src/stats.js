// Per-tile statistics from RTCPeerConnection.getStats(): bitrate, packet loss, codec,
// resolution and frame rate, computed from the difference between two samples.

export function formatBitrate(bps) {
  if (!Number.isFinite(bps)) return '–';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mb/s`;
  return `${Math.round(bps / 1e3)} kb/s`;
}

function codecName(report, stat) {
  const codec = stat.codecId ? report.get(stat.codecId) : null;
  return codec ? codec.mimeType.split('/')[1] : '?';
}

/** inbound-rtp entries of one receiving peer connection, keyed by mid. */
export function inboundByMid(report) {
  const byMid = new Map();
  for (const stat of report.values()) {
    if (stat.type === 'inbound-rtp' && stat.mid !== undefined) {
      byMid.set(String(stat.mid), { ...stat, codec: codecName(report, stat) });
    }
  }
  return byMid;
}

/** outbound-rtp entries of the sending peer connection, grouped by mid (one per simulcast rid). */
export function outboundByMid(report) {
  const byMid = new Map();
  for (const stat of report.values()) {
    if (stat.type !== 'outbound-rtp' || stat.mid === undefined) continue;
    const list = byMid.get(String(stat.mid)) || [];
    list.push({ ...stat, codec: codecName(report, stat) });
    byMid.set(String(stat.mid), list);
  }
  return byMid;
}

/** Remembers the previous sample of each stream to turn counters into rates. */
export class RateMeter {
  constructor() {
    this.previous = new Map();
  }

  rate(key, timestamp, bytes, lost = 0, received = 0) {
    const before = this.previous.get(key);
    this.previous.set(key, { timestamp, bytes, lost, received });
    if (!before || timestamp <= before.timestamp) return { bitrate: NaN, loss: NaN };
    const seconds = (timestamp - before.timestamp) / 1000;
    const lostDelta = Math.max(0, lost - before.lost);
    const receivedDelta = Math.max(0, received - before.received);
    const total = lostDelta + receivedDelta;
    return {
      bitrate: ((bytes - before.bytes) * 8) / seconds,
      loss: total > 0 ? (100 * lostDelta) / total : 0,
    };
  }

  forget(keys) {
    for (const key of [...this.previous.keys()]) if (!keys.has(key)) this.previous.delete(key);
  }
}
