// Entry point: the lobby (name + room -> POST /login, or ?token=), the call controls, and
// window.sfuctlDebug for tests and curious people (peer connections, stats, layers).
//
// A ?token= is read once and removed from the address bar at once (history.replaceState): the
// address then says ?room=NAME, which is what "Copy invite link" gives, so a copied or
// bookmarked address never carries anyone's identity. The camera starts only when asked for
// (Preview or Join) and is released when the call ends.

import './style.css';
import { API_KEY_STORAGE, Conference, decodeToken, login } from './conference.js';
import { icons } from './icons.js';
import { inboundByMid, outboundByMid } from './stats.js';
import { View } from './ui.js';

const $ = (id) => document.getElementById(id);
const config = window.sfuctlConfig || {}; // overrides, e.g. {video: {width: 640, height: 360}}
const params = new URLSearchParams(location.search);
const token = params.get('token');
const openedWith = location.search; // for the HTTPS link of the insecure-context page
if (token) {
  const room = decodeToken(token)?.room;
  history.replaceState(null, '', location.pathname + (room ? `?room=${encodeURIComponent(room)}` : ''));
}
const view = new View();
let conference = null;
let preview = null;

function showLobby(message) {
  $('call').hidden = true;
  $('lobby').hidden = false;
  document.body.dataset.state = 'lobby';
  $('name').value = $('name').value || localStorage.getItem('sfuctl.name') || '';
  $('room').value = $('room').value || params.get('room') || localStorage.getItem('sfuctl.room') || '';
  const key = sessionStorage.getItem(API_KEY_STORAGE);
  if (key) {
    $('key').value = key;
    $('key-row').hidden = false;
  }
  const error = $('lobby-error');
  error.textContent = message || '';
  error.hidden = !message;
  $('join').disabled = false;
}

/** The camera in the lobby, only on request (the Preview button); stopped on joining. */
async function startPreview() {
  if (preview) return;
  $('preview-button').disabled = true;
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video: config.video || true });
    if (document.body.dataset.state !== 'lobby') {
      stream.getTracks().forEach((track) => track.stop()); // joined meanwhile
      return;
    }
    preview = stream;
    $('preview').srcObject = preview;
    $('preview-off').hidden = true;
  } catch {
    $('preview-button').textContent = 'No camera found (try again)';
  } finally {
    $('preview-button').disabled = false;
  }
}

function stopPreview() {
  preview?.getTracks().forEach((track) => track.stop());
  preview = null;
  $('preview').srcObject = null;
  $('preview-off').hidden = false;
}

async function enterCall(token, relogin) {
  stopPreview();
  const claims = decodeToken(token) || {};
  $('lobby').hidden = true;
  $('call').hidden = false;
  $('room-name').textContent = claims.room || '';
  if (claims.room) $('room').value = claims.room; // the lobby after leaving offers the same room
  if (claims.name && !$('name').value) $('name').value = claims.name;
  document.title = `${claims.room || 'call'} · sfuctl`;
  conference = new Conference({ token, relogin, ui: view, media: config });
  view.bind(conference);
  view.setCount(1);
  view.onEnded = (message) => {
    conference = null;
    showLobby(message);
  };
  await conference.start();
}

$('join-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const userName = $('name').value.trim();
  const roomId = $('room').value.trim();
  if (!userName || !roomId) return;
  const key = $('key').value.trim();
  if (!$('key-row').hidden) {
    // remembered for this tab's session only: gone when the tab closes
    if (key) sessionStorage.setItem(API_KEY_STORAGE, key);
    else sessionStorage.removeItem(API_KEY_STORAGE);
  }
  $('join').disabled = true;
  try {
    const token = await login(userName, roomId);
    localStorage.setItem('sfuctl.name', userName);
    localStorage.setItem('sfuctl.room', roomId);
    history.replaceState(null, '', `${location.pathname}?room=${encodeURIComponent(roomId)}`);
    await enterCall(token, { userName, roomId });
  } catch (error) {
    if (error.needsKey) {
      $('key-row').hidden = false;
      $('key').focus();
    }
    showLobby(String(error.message || error));
  }
});

function inviteLink() {
  const room = conference?.claims.room || $('room').value.trim();
  return `${location.origin}/?room=${encodeURIComponent(room)}`;
}

async function sendChat() {
  const input = $('chat-input');
  const text = input.value;
  if (!text.trim() || !conference || $('chat-send').disabled) return;
  $('chat-send').disabled = true; // one at a time: the box is cleared by the answer
  view.chatError(null);
  try {
    await conference.sendChat(text);
    input.value = '';
  } catch (error) {
    view.chatError(`Not sent: ${error.detail || error.message}`);
  } finally {
    $('chat-send').disabled = false;
  }
}

function setupControls() {
  $('preview-button').addEventListener('click', () => startPreview());
  $('settings').innerHTML = icons.settings;
  $('chat-icon').innerHTML = icons.chat;
  $('stats').innerHTML = icons.stats;
  $('leave').innerHTML = icons.leave;
  view.setControl('mic', false);
  view.setControl('cam', false);
  view.setControl('share', false);
  $('share').addEventListener('click', () => {
    if (!conference) return;
    const action = conference.tracks.screen ? conference.stopShare() : conference.startShare();
    action.catch((error) => {
      if (error.name !== 'NotAllowedError') view.banner(`Screen sharing: ${error.message}`, 'warn', false, 6000);
    });
  });
  $('invite').addEventListener('click', () => {
    const link = inviteLink();
    navigator.clipboard.writeText(link).then(
      () => view.banner(`Invite link copied: ${link}`, 'info', false, 5000),
      () => view.banner(`Invite link: ${link}`, 'info', false, 15000),
    );
  });
  $('chat-toggle').addEventListener('click', () => view.toggleChat($('chat').hidden));
  $('chat-close').addEventListener('click', () => view.toggleChat(false));
  $('chat-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sendChat();
  });
  $('chat-input').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      sendChat();
    }
  });
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
  inviteLink,
  /** Every live local track the page holds (camera, microphone, screen, preview). */
  liveTracks() {
    const tracks = [...Object.values(conference?.tracks || {}), ...(preview?.getTracks() || [])];
    return tracks.filter((t) => t && t.readyState === 'live').map((t) => ({ kind: t.kind, label: t.label }));
  },
  recordings() {
    return conference ? [...conference.recordings] : [];
  },
  recordingShown() {
    return !$('rec').hidden;
  },
  chat() {
    return [...document.querySelectorAll('#chat-log li')].map((li) => ({
      name: li.querySelector('strong').textContent,
      text: li.querySelector('.chat-text').textContent,
      html: li.querySelector('.chat-text').innerHTML,
    }));
  },
  shares() {
    return [...document.querySelectorAll('#stage .screen')].map((el) => ({
      userId: el.dataset.userId,
      shown: !el.hidden,
      name: el.querySelector('.name').textContent,
    }));
  },
  consumers() {
    return conference
      ? [...conference.consumers.values()].map((e) => ({
          id: e.consumer.id,
          producerId: e.producerId,
          userId: e.userId,
          kind: e.kind,
          source: e.source,
          type: e.type,
          layer: e.layer,
        }))
      : [];
  },
  producers() {
    return conference
      ? Object.values(conference.producers)
          .filter(Boolean)
          .map((p) => ({ id: p.id, kind: p.kind, source: p.appData.source, paused: p.paused }))
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
        source: e.source,
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
        source: p.appData.source,
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
  $('insecure-https').href = https + openedWith;
}

setupControls();
if (!window.isSecureContext || !navigator.mediaDevices) {
  showInsecure();
} else if (token) {
  enterCall(token, null).catch((error) => showLobby(String(error.message || error)));
} else {
  showLobby(null);
}
