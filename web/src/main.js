// Entry point: the lobby (name + room -> POST /login, or ?token=), the call controls, and
// window.sfuctlDebug for tests and curious people (peer connections, stats, layers).

import './style.css';
import { Conference, decodeToken, login } from './conference.js';
import { icons } from './icons.js';
import { inboundByMid, outboundByMid } from './stats.js';
import { View } from './ui.js';

const $ = (id) => document.getElementById(id);
const config = window.sfuctlConfig || {}; // overrides, e.g. {video: {width: 640, height: 360}}
const params = new URLSearchParams(location.search);
const view = new View();
let conference = null;
let preview = null;

function showLobby(message) {
  $('call').hidden = true;
  $('lobby').hidden = false;
  document.body.dataset.state = 'lobby';
  $('name').value = $('name').value || localStorage.getItem('sfuctl.name') || '';
  $('room').value = $('room').value || params.get('room') || localStorage.getItem('sfuctl.room') || '';
  const error = $('lobby-error');
  error.textContent = message || '';
  error.hidden = !message;
  $('join').disabled = false;
  startPreview();
}

async function startPreview() {
  if (preview || config.preview === false) return;
  try {
    preview = await navigator.mediaDevices.getUserMedia({ video: config.video || true });
    $('preview').srcObject = preview;
    $('preview-off').hidden = true;
  } catch {
    $('preview-off').textContent = 'No camera';
  }
}

function stopPreview() {
  preview?.getTracks().forEach((track) => track.stop());
  preview = null;
  $('preview').srcObject = null;
}

async function enterCall(token, relogin) {
  stopPreview();
  const claims = decodeToken(token) || {};
  $('lobby').hidden = true;
  $('call').hidden = false;
  $('room-name').textContent = claims.room || '';
  document.title = `${claims.room || 'call'} · sfuctl`;
  conference = new Conference({ token, relogin, ui: view, media: config });
  view.bind(conference);
  view.setCount(1);
  view.onEnded = (message) => {
    conference = null;
    if (params.has('token')) {
      history.replaceState(null, '', location.pathname + (claims.room ? `?room=${encodeURIComponent(claims.room)}` : ''));
      params.delete('token');
    }
    showLobby(message);
  };
  await conference.start();
}

$('join-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const userName = $('name').value.trim();
  const roomId = $('room').value.trim();
  if (!userName || !roomId) return;
  $('join').disabled = true;
  try {
    const token = await login(userName, roomId);
    localStorage.setItem('sfuctl.name', userName);
    localStorage.setItem('sfuctl.room', roomId);
    history.replaceState(null, '', `${location.pathname}?room=${encodeURIComponent(roomId)}`);
    await enterCall(token, { userName, roomId });
  } catch (error) {
    showLobby(String(error.message || error));
  }
});

function setupControls() {
  $('settings').innerHTML = icons.settings;
  $('stats').innerHTML = icons.stats;
  $('leave').innerHTML = icons.leave;
  view.setControl('mic', false);
  view.setControl('cam', false);
  $('mic').addEventListener('click', () => conference?.setMicMuted(!conference.micMuted));
  $('cam').addEventListener('click', () =>
    conference?.setCameraOff(!conference.camOff).catch((error) => view.banner(`Camera: ${error.message}`, 'warn')),
  );
  $('stats').addEventListener('click', () => view.toggleStats(!view.showStats));
  $('leave').addEventListener('click', () => conference?.leave());
  $('settings').addEventListener('click', (event) => {
    event.stopPropagation();
    const menu = $('devices');
    menu.hidden = !menu.hidden;
    $('settings').setAttribute('aria-expanded', String(!menu.hidden));
  });
  document.addEventListener('click', (event) => {
    if (!$('devices').contains(event.target)) $('devices').hidden = true;
  });
  const choose = (kind) => (event) =>
    conference?.chooseDevice(kind, event.target.value).catch((error) => view.banner(`Device: ${error.message}`, 'warn'));
  $('camera-select').addEventListener('change', choose('video'));
  $('mic-select').addEventListener('change', choose('audio'));
  window.addEventListener('beforeunload', () => conference?.signaling?.close());
}

// -- window.sfuctlDebug: what the browser tests read ----------------------------------------------

window.sfuctlDebug = {
  get conference() {
    return conference;
  },
  get state() {
    if (document.body.dataset.state === 'insecure') return 'insecure';
    return conference ? conference.state : 'lobby';
  },
  get userId() {
    return conference?.userId ?? null;
  },
  /** The two RTCPeerConnections of the current connection. */
  pcs() {
    return {
      send: conference?.peerConnection(conference.sendTransport) ?? null,
      recv: conference?.peerConnection(conference.recvTransport) ?? null,
    };
  },
  peers() {
    return conference ? [...conference.peers].map(([userId, userName]) => ({ userId, userName })) : [];
  },
  tiles() {
    return [...document.querySelectorAll('#grid .tile')].map((tile) => ({
      userId: tile.dataset.userId,
      name: tile.querySelector('.name').textContent,
      video: tile.classList.contains('has-video'),
    }));
  },
  consumers() {
    return conference
      ? [...conference.consumers.values()].map((e) => ({
          id: e.consumer.id,
          producerId: e.producerId,
          userId: e.userId,
          kind: e.kind,
          type: e.type,
          layer: e.layer,
        }))
      : [];
  },
  producers() {
    return conference
      ? Object.values(conference.producers)
          .filter(Boolean)
          .map((p) => ({ id: p.id, kind: p.kind, paused: p.paused }))
      : [];
  },
  /** inbound-rtp from the receiving RTCPeerConnection.getStats(), one entry per consumer. */
  async inbound() {
    const pc = this.pcs().recv;
    if (!pc) return [];
    const byMid = inboundByMid(await pc.getStats());
    return [...conference.consumers.values()].map((e) => {
      const s = byMid.get(String(e.consumer.rtpParameters.mid)) || {};
      return {
        consumerId: e.consumer.id,
        producerId: e.producerId,
        userId: e.userId,
        kind: e.kind,
        codec: s.codec ?? null,
        packetsReceived: s.packetsReceived ?? 0,
        bytesReceived: s.bytesReceived ?? 0,
        framesDecoded: s.framesDecoded ?? 0,
        frameWidth: s.frameWidth ?? 0,
        frameHeight: s.frameHeight ?? 0,
        totalAudioEnergy: s.totalAudioEnergy ?? 0,
      };
    });
  },
  /** outbound-rtp from the sending RTCPeerConnection.getStats(), per producer and rid. */
  async outbound() {
    const pc = this.pcs().send;
    if (!pc) return [];
    const byMid = outboundByMid(await pc.getStats());
    return Object.values(conference.producers)
      .filter(Boolean)
      .map((p) => ({
        producerId: p.id,
        kind: p.kind,
        streams: (byMid.get(String(p.rtpParameters.mid)) || []).map((s) => ({
          rid: s.rid ?? null,
          codec: s.codec,
          packetsSent: s.packetsSent ?? 0,
          framesEncoded: s.framesEncoded ?? 0,
          frameWidth: s.frameWidth ?? 0,
        })),
      }));
  },
  setPreferredLayers(consumerId, spatialLayer, temporalLayer = null) {
    return conference.setPreferredLayers(consumerId, spatialLayer, temporalLayer, true);
  },
  restartIce() {
    return Promise.all(
      [conference.sendTransport, conference.recvTransport]
        .filter(Boolean)
        .map((t) => conference.restartIce(t, conference.generation)),
    );
  },
};

/**
 * Plain HTTP from another machine is not a secure context: the browser hides the camera and the
 * microphone (navigator.mediaDevices is undefined), so joining could only fail. Say why and how
 * to get HTTPS instead, and do nothing else (no lobby, no join, no reconnection loop).
 */
function showInsecure() {
  $('lobby').hidden = true;
  $('call').hidden = true;
  $('insecure').hidden = false;
  document.body.dataset.state = 'insecure';
  document.title = 'HTTPS needed · sfuctl';
  $('insecure-origin').textContent = location.origin;
  const https = `https://${location.host}${location.pathname}`;
  $('insecure-https').textContent = https; // the link keeps ?room= or ?token=, the text stays short
  $('insecure-https').href = https + location.search;
}

setupControls();
const token = params.get('token');
if (!window.isSecureContext || !navigator.mediaDevices) {
  showInsecure();
} else if (token) {
  enterCall(token, null).catch((error) => showLobby(String(error.message || error)));
} else {
  showLobby(null);
}
