// The call: one signaling connection at a time, a mediasoup-client Device, a send transport
// (camera + microphone, simulcast video) and a receive transport (everyone else). When the
// connection drops, every media object is dropped with it and the whole join is done again on a
// new connection (with backoff); the local tracks survive, so do mute and camera-off.
// Only a lost network reconnects: a refused token, a full room or a refused join stop the call
// with a message (see classify()). The camera and the microphone are released on leaving.

import { Device } from 'mediasoup-client';
import { Signaling } from './signaling.js';

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 10000];
const ICE_DISCONNECTED_GRACE_MS = 3000;

/** A screen share: one layer, kept sharp (contentHint "detail" makes the encoder keep resolution). */
const SCREEN_ENCODINGS = [{ maxBitrate: 2500000, maxFramerate: 15 }];

/** Refusals that another attempt would not change: said to the user, no retry. Any request of a
 * join that is refused so ends the call; join-room's own "full" (limit_exceeded) too, while a
 * create-transport's limit_exceeded (no free media port now) is worth another try later. */
const FINAL_CODES = new Set(['forbidden', 'unauthorized', 'bad_request']);
const FINAL_JOIN_CODES = new Set([...FINAL_CODES, 'limit_exceeded', 'already_joined']);

export const API_KEY_STORAGE = 'sfuctl.apiKey'; // this tab's session only (sessionStorage)

/** An error that ends the call: its message is shown in the lobby, nothing is retried. */
export class FinalError extends Error {}

/** Three simulcast layers (1/4, 1/2, full size) with three temporal layers each. */
const SIMULCAST_ENCODINGS = [
  { scaleResolutionDownBy: 4, maxBitrate: 150000, scalabilityMode: 'L1T3' },
  { scaleResolutionDownBy: 2, maxBitrate: 500000, scalabilityMode: 'L1T3' },
  { scaleResolutionDownBy: 1, maxBitrate: 1500000, scalabilityMode: 'L1T3' },
];

export function decodeToken(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(
      [...atob(part)].map((c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''),
    );
    return JSON.parse(json);
  } catch {
    return null;
  }
}

/** POST /login; with the server in apikey mode, the key of this session (sessionStorage) goes along. */
export async function login(userName, roomId) {
  const key = sessionStorage.getItem(API_KEY_STORAGE);
  const headers = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch('/login', { method: 'POST', headers, body: JSON.stringify({ userName, roomId }) });
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    const message = key ? 'The access key was refused: check it and try again.' : 'This server asks for an access key: enter it below.';
    throw Object.assign(new FinalError(message), { needsKey: true });
  }
  if (!response.ok) {
    const message = body?.error?.message || `login failed (${response.status})`;
    // a refusal (4xx) stays one; an overloaded or restarting server (429, 5xx) is worth another try
    throw response.status >= 500 || response.status === 429 ? new Error(message) : new FinalError(message);
  }
  return body.token;
}

/** Whether the server answers at all, and is not shutting down (then a refused upgrade was our token). */
async function serverAccepting() {
  try {
    const response = await fetch('/health', { cache: 'no-store' });
    const health = await response.json();
    return health.status !== 'draining';
  } catch {
    return false;
  }
}

export class Conference {
  /**
   * @param {object} options
   * @param {string} options.token
   * @param {{userName: string, roomId: string} | null} options.relogin how to get a new token
   * @param {object} options.ui the view (see ui.js)
   * @param {object} options.media {video: MediaTrackConstraints, iceTransportPolicy?: 'all'|'relay'}
   */
  constructor({ token, relogin, ui, media }) {
    this.token = token;
    this.claims = decodeToken(token) || {};
    this.relogin = relogin;
    this.ui = ui;
    this.videoConstraints = media?.video || { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
    this.iceTransportPolicy = media?.iceTransportPolicy || 'all'; // 'relay': TURN only (tests, strict networks)
    this.state = 'idle';
    this.generation = 0;
    this.attempt = 0;
    this.signaling = null;
    this.device = null;
    this.sendTransport = null;
    this.recvTransport = null;
    this.producers = { audio: null, video: null, screen: null };
    this.consumers = new Map(); // consumerId -> {consumer, userId, producerId, kind, source, type, layer}
    this.peers = new Map(); // userId -> userName
    this.pausedProducers = new Set(); // remote producers paused by their owner
    this.tracks = { audio: null, video: null, screen: null };
    this.recordings = new Set(); // ids of the room's active recordings
    this.reloggedAfterRefusal = false;
    this.devices = { audio: undefined, video: undefined }; // chosen deviceIds
    this.micMuted = false;
    this.camOff = false;
    this.consumeQueue = Promise.resolve();
    this.reconnectTimer = null;
    this.iceTimers = new Map();
    this.userId = this.claims.sub || null;
  }

  // -- lifecycle --------------------------------------------------------------------------------

  async start() {
    if (!this.relogin && this.claims.exp && this.claims.exp * 1000 <= Date.now()) {
      this.stop('This link has expired: ask for a new one, or join with your name below.');
      return;
    }
    if (this.claims.grants?.publish === false) {
      this.camOff = true; // watch-only: the camera and the microphone stay off
      this.ui.banner('You can watch and listen in this room, not send.', 'info', false, 6000);
    } else {
      await this.acquireMedia();
    }
    if (this.state === 'left') return; // left while the browser asked for the camera
    this.ui.showLocal(this.claims.name || 'You', this.tracks.video, this.micMuted);
    this.connect();
  }

  async acquireMedia() {
    const want = async (audio, video) => {
      try {
        return await navigator.mediaDevices.getUserMedia({ audio, video });
      } catch {
        return null;
      }
    };
    const audio = this.devices.audio ? { deviceId: { exact: this.devices.audio } } : true;
    const video = { ...this.videoConstraints, ...(this.devices.video ? { deviceId: { exact: this.devices.video } } : {}) };
    const stream = (await want(audio, video)) || (await want(audio, false)) || (await want(false, video));
    if (this.state === 'left') {
      stream?.getTracks().forEach((track) => track.stop()); // the call ended meanwhile: release at once
      return;
    }
    if (!stream) {
      this.ui.banner('No camera or microphone available: you can watch and listen.', 'warn');
      this.camOff = true;
      return;
    }
    this.tracks.audio = stream.getAudioTracks()[0] || null;
    this.tracks.video = stream.getVideoTracks()[0] || null;
    if (!this.tracks.video) this.camOff = true;
    if (this.tracks.audio) this.tracks.audio.enabled = !this.micMuted;
    await this.ui.listDevices(this.tracks);
  }

  connect() {
    if (this.state === 'left') return;
    clearTimeout(this.reconnectTimer);
    const generation = ++this.generation;
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    this.join(generation).then(
      () => {
        if (generation !== this.generation) return;
        this.attempt = 0;
        this.setState('joined');
        this.ui.banner(null);
      },
      (error) => {
        if (generation !== this.generation || this.state === 'left') return;
        console.warn('[sfuctl] join failed:', error);
        this.classify(error, generation);
      },
    );
  }

  /** A failed join: a lost network reconnects with backoff; anything a retry cannot change stops. */
  async classify(error, generation) {
    if (error instanceof FinalError) {
      this.stop(error.message);
      return;
    }
    if (error.type && (error.type === 'join-room' ? FINAL_JOIN_CODES : FINAL_CODES).has(error.code)) {
      this.stop(`The server did not let you in: ${error.detail}`);
      return;
    }
    if (error.refused && (await serverAccepting())) {
      if (generation !== this.generation || this.state === 'left') return;
      // The server is up and refused the upgrade: the token is bad, expired, or for another server.
      if (this.relogin && !this.reloggedAfterRefusal) {
        this.reloggedAfterRefusal = true; // one fresh token from /login, then no more
        this.forceRelogin = true;
        this.connect();
        return;
      }
      this.stop('The server refused this access link (invalid or expired). Ask for a new link, or join with your name below.');
      return;
    }
    if (generation !== this.generation || this.state === 'left') return;
    this.scheduleReconnect(String(error.message || error));
  }

  scheduleReconnect(why) {
    if (this.state === 'left') return;
    this.teardown();
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    this.attempt += 1;
    this.setState('reconnecting');
    this.ui.banner(`Connection lost (${why}). Reconnecting in ${(delay / 1000).toFixed(1)} s…`, 'warn');
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  async freshToken() {
    const expires = (this.claims.exp || Infinity) * 1000;
    if (this.relogin && (this.forceRelogin || expires - Date.now() < 60000)) {
      this.forceRelogin = false;
      this.token = await login(this.relogin.userName, this.relogin.roomId);
      this.claims = decodeToken(this.token) || this.claims;
      this.userId = this.claims.sub || this.userId;
    }
    return this.token;
  }

  async join(generation) {
    const token = await this.freshToken();
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const signaling = new Signaling(`${scheme}://${location.host}/?token=${encodeURIComponent(token)}`, {
      onEvent: (type, data) => {
        if (generation === this.generation) this.onEvent(type, data);
      },
      onClose: (code, reason) => {
        if (generation === this.generation) this.onSignalingClosed(code, reason);
      },
    });
    this.signaling = signaling;
    // new-producer events can come before the receive transport exists: hold them until it does
    let release;
    this.consumeQueue = new Promise((resolve) => (release = resolve));
    await signaling.open();
    const joined = await signaling.request('join-room');
    this.reloggedAfterRefusal = false;
    this.userId = joined.userId;
    this.setRecordings(joined.recordings || []);
    // STUN/TURN servers with this peer's own ephemeral TURN credential ([] without TURN)
    this.iceServers = joined.iceServers || [];
    this.device = new Device();
    await this.device.load({ routerRtpCapabilities: joined.rtpCapabilities });
    for (const peer of joined.peers) this.addPeer(peer.userId, peer.userName);
    // what the token grants (absent: allowed); a watch-only token publishes nothing
    const grants = this.claims.grants || {};
    if (grants.subscribe !== false) this.recvTransport = await this.createTransport('recv', generation);
    if (grants.publish !== false && (this.device.canProduce('audio') || this.device.canProduce('video'))) {
      this.sendTransport = await this.createTransport('send', generation);
      await this.publish(generation);
    }
    for (const producer of joined.producers) this.enqueueConsume(producer, generation);
    release();
    await this.consumeQueue;
  }

  onSignalingClosed(code, reason) {
    if (code === 4001) {
      this.stop('This call was opened again somewhere else (same user).');
      return;
    }
    if (code === 4003) {
      this.stop('An administrator removed you from this room.');
      return;
    }
    this.scheduleReconnect(reason || `code ${code}`);
  }

  /** Drop every media object of the current connection (the local tracks stay). */
  teardown() {
    for (const timer of this.iceTimers.values()) clearTimeout(timer);
    this.iceTimers.clear();
    if (this.signaling) this.signaling.close();
    this.signaling = null;
    for (const transport of [this.sendTransport, this.recvTransport]) {
      if (transport && !transport.closed) transport.close();
    }
    this.sendTransport = this.recvTransport = null;
    this.producers = { audio: null, video: null, screen: null };
    this.consumers.clear();
    this.pausedProducers.clear();
    for (const userId of this.peers.keys()) this.ui.removePeer(userId);
    this.peers.clear();
    this.ui.setCount(1);
    this.device = null;
    this.consumeQueue = Promise.resolve();
  }

  async leave() {
    if (this.state === 'left') return;
    const signaling = this.signaling;
    if (signaling) {
      try {
        await Promise.race([signaling.request('leave-room'), new Promise((r) => setTimeout(r, 1000))]);
      } catch {
        // leaving anyway
      }
    }
    this.stop(null);
  }

  stop(message) {
    this.generation += 1;
    clearTimeout(this.reconnectTimer);
    this.teardown();
    this.setState('left');
    for (const track of Object.values(this.tracks)) track?.stop();
    this.tracks = { audio: null, video: null, screen: null };
    this.setRecordings([]);
    this.ui.ended(message);
  }

  setState(state) {
    this.state = state;
    this.ui.setStatus(state, this.attempt);
  }

  // -- transports -------------------------------------------------------------------------------

  async createTransport(direction, generation) {
    const info = await this.signaling.request('create-transport', { direction });
    const options = {
      id: info.id,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
      sctpParameters: info.sctpParameters,
      iceServers: this.iceServers || [],
      iceTransportPolicy: this.iceTransportPolicy,
    };
    const transport =
      direction === 'send' ? this.device.createSendTransport(options) : this.device.createRecvTransport(options);
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      this.signaling
        .request('connect-transport', { transportId: transport.id, dtlsParameters })
        .then(() => callback(), errback);
    });
    if (direction === 'send') {
      transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
        this.signaling
          .request('produce', { transportId: transport.id, kind, rtpParameters, appData })
          .then(({ id }) => callback({ id }), errback);
      });
    }
    transport.on('connectionstatechange', (state) => this.onTransportState(transport, state, generation));
    return transport;
  }

  onTransportState(transport, state, generation) {
    if (generation !== this.generation) return;
    clearTimeout(this.iceTimers.get(transport.id));
    this.iceTimers.delete(transport.id);
    if (state === 'failed') {
      this.restartIce(transport, generation);
    } else if (state === 'disconnected') {
      this.iceTimers.set(
        transport.id,
        setTimeout(() => {
          if (transport.connectionState === 'disconnected') this.restartIce(transport, generation);
        }, ICE_DISCONNECTED_GRACE_MS),
      );
    }
  }

  async restartIce(transport, generation) {
    if (generation !== this.generation || transport.closed || !this.signaling) return;
    try {
      const { iceParameters } = await this.signaling.request('restart-ice', { transportId: transport.id });
      if (generation !== this.generation || transport.closed) return;
      await transport.restartIce({ iceParameters });
      console.info(`[sfuctl] ICE restarted on the ${transport.direction} transport`);
    } catch (error) {
      console.warn('[sfuctl] restart-ice failed:', error);
    }
  }

  // -- publishing -------------------------------------------------------------------------------

  async publish(generation) {
    if (this.tracks.audio && this.device.canProduce('audio')) {
      await this.produceTrack('audio', generation);
    }
    if (this.tracks.video && !this.camOff && this.device.canProduce('video')) {
      await this.produceTrack('video', generation);
    }
    if (this.tracks.screen && this.device.canProduce('video')) {
      await this.produceTrack('screen', generation);
    }
  }

  /** kind: 'audio' (microphone), 'video' (camera) or 'screen' (a second video producer). */
  async produceTrack(kind, generation) {
    const transport = this.sendTransport;
    const track = this.tracks[kind];
    if (!transport || !track || generation !== this.generation) return;
    const source = { audio: 'mic', video: 'camera', screen: 'screen' }[kind];
    const options = { track, stopTracks: false, appData: { source } };
    if (kind === 'screen') {
      options.encodings = SCREEN_ENCODINGS.map((encoding) => ({ ...encoding }));
      options.codecOptions = { videoGoogleStartBitrate: 1000 };
      options.codec = this.device.rtpCapabilities.codecs.find((c) => c.mimeType.toLowerCase() === 'video/vp8');
    } else if (kind === 'video') {
      options.encodings = SIMULCAST_ENCODINGS.map((encoding) => ({ ...encoding }));
      options.codecOptions = { videoGoogleStartBitrate: 1000 };
      options.codec = this.device.rtpCapabilities.codecs.find((c) => c.mimeType.toLowerCase() === 'video/vp8');
    } else {
      options.codecOptions = { opusStereo: false, opusDtx: true, opusFec: true };
    }
    const producer = await transport.produce(options);
    if (generation !== this.generation) {
      producer.close();
      return;
    }
    this.producers[kind] = producer;
    producer.on('transportclose', () => {
      if (this.producers[kind] === producer) this.producers[kind] = null;
    });
    if (kind === 'audio' && this.micMuted) {
      producer.pause();
      await this.signaling.request('pause-producer', { producerId: producer.id });
    }
  }

  async setMicMuted(muted) {
    this.micMuted = muted;
    if (this.tracks.audio) this.tracks.audio.enabled = !muted;
    this.ui.setLocalMuted(muted);
    const producer = this.producers.audio;
    if (!producer || !this.signaling) return;
    if (muted) producer.pause();
    else producer.resume();
    await this.signaling
      .request(muted ? 'pause-producer' : 'resume-producer', { producerId: producer.id })
      .catch((error) => console.warn('[sfuctl]', error));
  }

  // -- screen sharing ---------------------------------------------------------------------------

  async startShare() {
    if (this.tracks.screen || this.state === 'left') return;
    if (this.claims.grants?.publish === false) throw new Error('this access link may watch, not send');
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    const track = stream.getVideoTracks()[0];
    if (this.state === 'left' || this.tracks.screen) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    track.contentHint = 'detail'; // text stays legible: resolution is kept, frame rate gives way
    track.addEventListener('ended', () => this.stopShare()); // the browser's own "Stop sharing"
    this.tracks.screen = track;
    this.ui.showShare('local', this.claims.name || 'You', track);
    if (this.state === 'joined' && this.device?.canProduce('video')) await this.produceTrack('screen', this.generation);
  }

  async stopShare() {
    const track = this.tracks.screen;
    const producer = this.producers.screen;
    this.tracks.screen = null;
    this.producers.screen = null;
    track?.stop();
    this.ui.hideShare('local');
    if (producer) {
      producer.close();
      await this.signaling?.request('close-producer', { producerId: producer.id }).catch(() => {});
    }
  }

  // -- chat and recording -----------------------------------------------------------------------

  /** Resolves with the message as the server relayed it; rejects with the server's reason. */
  async sendChat(text) {
    if (!this.signaling || this.state !== 'joined') throw new Error('not connected: wait for the call to reconnect');
    const message = await this.signaling.request('chat', { text });
    this.ui.addChat(message, true);
    return message;
  }

  setRecordings(ids) {
    this.recordings = new Set(ids);
    this.ui.setRecording(this.recordings.size > 0);
  }

  async setCameraOff(off) {
    this.camOff = off;
    const generation = this.generation;
    if (off) {
      const producer = this.producers.video;
      this.producers.video = null;
      if (producer) {
        producer.close();
        await this.signaling?.request('close-producer', { producerId: producer.id }).catch(() => {});
      }
      this.tracks.video?.stop();
      this.tracks.video = null;
      this.ui.setLocalVideo(null);
      return;
    }
    const video = { ...this.videoConstraints, ...(this.devices.video ? { deviceId: { exact: this.devices.video } } : {}) };
    const stream = await navigator.mediaDevices.getUserMedia({ video });
    if (this.state === 'left') {
      stream.getTracks().forEach((track) => track.stop());
      return;
    }
    this.tracks.video = stream.getVideoTracks()[0];
    this.ui.setLocalVideo(this.tracks.video);
    if (this.state === 'joined' && this.device?.canProduce('video')) await this.produceTrack('video', generation);
  }

  async chooseDevice(kind, deviceId) {
    this.devices[kind] = deviceId || undefined;
    if (kind === 'video' && this.camOff) return;
    const constraints =
      kind === 'audio'
        ? { audio: { deviceId: { exact: deviceId } } }
        : { video: { ...this.videoConstraints, deviceId: { exact: deviceId } } };
    const stream = await navigator.mediaDevices.getUserMedia(constraints);
    const track = kind === 'audio' ? stream.getAudioTracks()[0] : stream.getVideoTracks()[0];
    const old = this.tracks[kind];
    this.tracks[kind] = track;
    if (kind === 'audio') track.enabled = !this.micMuted;
    if (this.producers[kind]) await this.producers[kind].replaceTrack({ track });
    else if (this.state === 'joined') await this.produceTrack(kind, this.generation);
    old?.stop();
    if (kind === 'video') this.ui.setLocalVideo(track);
  }

  // -- events and consuming ---------------------------------------------------------------------

  addPeer(userId, userName) {
    if (userId === this.userId) return;
    this.peers.set(userId, userName);
    this.ui.addPeer(userId, userName);
    this.ui.setCount(this.peers.size + 1);
  }

  removePeer(userId) {
    for (const [id, entry] of this.consumers) {
      if (entry.userId === userId) this.dropConsumer(id);
    }
    this.peers.delete(userId);
    this.ui.removePeer(userId);
    this.ui.setCount(this.peers.size + 1);
  }

  onEvent(type, data) {
    switch (type) {
      case 'peer-joined':
        this.addPeer(data.userId, data.userName);
        break;
      case 'peer-left':
        this.removePeer(data.userId);
        break;
      case 'new-producer':
        this.enqueueConsume(data, this.generation);
        break;
      case 'producer-closed':
        this.pausedProducers.delete(data.producerId);
        for (const [id, entry] of this.consumers) {
          if (entry.producerId === data.producerId) this.dropConsumer(id);
        }
        break;
      case 'consumer-closed':
        this.dropConsumer(data.consumerId);
        break;
      case 'producer-paused':
      case 'producer-resumed':
        if (type === 'producer-paused') this.pausedProducers.add(data.producerId);
        else this.pausedProducers.delete(data.producerId);
        for (const entry of this.consumers.values()) {
          if (entry.producerId === data.producerId) this.ui.setRemotePaused(entry.userId, entry.kind, type === 'producer-paused');
        }
        break;
      case 'room-closed':
        if (data.reason === 'kicked') {
          this.stop('An administrator removed you from this room.');
        } else if (data.reason === 'admin' || data.reason === 'closed') {
          this.stop(data.reason === 'admin' ? 'An administrator closed this room.' : 'The room was closed.');
        } else {
          // shutdown or worker-died: the server (or another worker) takes us back after a rejoin
          this.scheduleReconnect(data.reason === 'shutdown' ? 'server restarting' : 'media worker restarted');
        }
        break;
      case 'producer-muted':
      case 'producer-unmuted':
        // An administrator holds (or releases) one of our producers; our own resume is refused meanwhile.
        this.ui.banner(type === 'producer-muted' ? 'An administrator muted you.' : null, 'warn');
        break;
      case 'chat':
        this.ui.addChat(data, false);
        break;
      case 'recording-started':
        this.setRecordings([...this.recordings, data.recordingId]);
        break;
      case 'recording-stopped':
        this.setRecordings([...this.recordings].filter((id) => id !== data.recordingId));
        break;
      case 'active-speaker':
        this.ui.setActiveSpeaker(data.userId === this.userId ? 'local' : data.userId);
        break;
      case 'error':
        console.warn('[sfuctl] server error event:', data);
        break;
      default:
        break;
    }
  }

  enqueueConsume(info, generation) {
    this.consumeQueue = this.consumeQueue
      .then(() => this.consume(info, generation))
      .catch((error) => console.warn('[sfuctl] consume failed:', error));
  }

  async consume(info, generation) {
    if (generation !== this.generation || !this.recvTransport || info.userId === this.userId) return;
    for (const entry of this.consumers.values()) if (entry.producerId === info.producerId) return;
    if (!this.peers.has(info.userId)) this.addPeer(info.userId, info.userName);
    const result = await this.signaling.request('consume', {
      transportId: this.recvTransport.id,
      producerId: info.producerId,
      rtpCapabilities: this.device.rtpCapabilities,
    });
    if (generation !== this.generation) return;
    const consumer = await this.recvTransport.consume({
      id: result.id,
      producerId: result.producerId,
      kind: result.kind,
      rtpParameters: result.rtpParameters,
      appData: { userId: info.userId },
    });
    if (generation !== this.generation || !this.peers.has(info.userId)) {
      consumer.close();
      return;
    }
    const entry = {
      consumer,
      userId: info.userId,
      producerId: result.producerId,
      kind: result.kind,
      source: info.appData?.source === 'screen' ? 'screen' : result.kind === 'video' ? 'camera' : 'mic',
      type: result.type,
      layer: null, // spatial layer asked for; null until set
      manualLayer: null,
    };
    this.consumers.set(consumer.id, entry);
    consumer.on('transportclose', () => this.consumers.delete(consumer.id));
    if (result.producerPaused) this.pausedProducers.add(result.producerId);
    if (entry.source === 'screen') this.ui.showShare(info.userId, info.userName, consumer.track);
    else this.ui.attach(info.userId, consumer, this.pausedProducers.has(result.producerId));
    await this.signaling.request('resume-consumer', { consumerId: consumer.id });
    if (entry.type === 'simulcast') this.ui.watchLayers(info.userId);
  }

  dropConsumer(consumerId) {
    const entry = this.consumers.get(consumerId);
    if (!entry) return;
    this.consumers.delete(consumerId);
    entry.consumer.close();
    if (entry.source === 'screen') this.ui.hideShare(entry.userId);
    else this.ui.detach(entry.userId, entry.kind, entry.consumer.id);
  }

  /** Ask the server for a simulcast layer; `manual` pins it (null goes back to automatic). */
  async setPreferredLayers(consumerId, spatialLayer, temporalLayer = null, manual = true) {
    const entry = this.consumers.get(consumerId);
    if (!entry || !this.signaling) return;
    if (manual) entry.manualLayer = spatialLayer;
    else if (entry.manualLayer !== null) return;
    if (entry.layer === spatialLayer && !manual) return;
    entry.layer = spatialLayer;
    const data = { consumerId, spatialLayer };
    if (temporalLayer !== null && temporalLayer !== undefined) data.temporalLayer = temporalLayer;
    await this.signaling.request('set-preferred-layers', data);
  }

  clearManualLayer(consumerId) {
    const entry = this.consumers.get(consumerId);
    if (entry) entry.manualLayer = null;
  }

  /** The server picks the layer: the smallest one that fills the tile (by its width in pixels). */
  autoLayer(userId, widthPx) {
    const spatial = widthPx * devicePixelRatio <= 400 ? 0 : widthPx * devicePixelRatio <= 800 ? 1 : 2;
    for (const [id, entry] of this.consumers) {
      if (entry.userId === userId && entry.type === 'simulcast' && entry.manualLayer === null) {
        this.setPreferredLayers(id, spatial, null, false).catch(() => {});
      }
    }
  }

  // -- statistics -------------------------------------------------------------------------------

  peerConnection(transport) {
    return transport?.handler?._pc || null;
  }
}
