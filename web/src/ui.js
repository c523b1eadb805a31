// The call view: a grid of tiles (one per participant, names, mic state, video or initials),
// the stage (a screen share, large, with the tiles beside it), the chat panel, the stats overlay
// of each tile, the status pill, the recording indicator, the banner and the device menus.
// Everything a peer sends (names, chat) is put in the page as text (textContent), never as HTML.

import { icons } from './icons.js';
import { formatBitrate, inboundByMid, outboundByMid, RateMeter } from './stats.js';

const $ = (id) => document.getElementById(id);

function initials(name) {
  const parts = String(name).trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : String(name).slice(0, 2);
  return letters.toUpperCase();
}

function hue(text) {
  let h = 0;
  for (const c of String(text)) h = (h * 31 + c.charCodeAt(0)) % 360;
  return h;
}

const STATUS_TEXT = {
  idle: 'idle',
  connecting: 'connecting…',
  joined: 'connected',
  reconnecting: 'reconnecting…',
  left: 'left',
};

const LAYER_CHOICES = [null, 0, 1, 2]; // null = automatic (by tile size)
const CHAT_KEEP = 500; // messages kept in the panel (memory stays bounded in a long call)

function clock(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export class View {
  constructor() {
    this.conference = null;
    this.tiles = new Map(); // userId ('local' for us) -> tile
    this.shares = new Map(); // userId ('local' for us) -> {element, video}: screen shares, newest last
    this.unread = 0;
    this.showStats = true;
    this.meter = new RateMeter();
    this.statsTimer = null;
    this.resizeObserver = new ResizeObserver((entries) => {
      for (const entry of entries) {
        const userId = entry.target.dataset.userId;
        if (userId && userId !== 'local') this.conference?.autoLayer(userId, entry.contentRect.width);
      }
    });
  }

  bind(conference) {
    this.conference = conference;
    $('grid').replaceChildren();
    this.tiles.clear();
    for (const userId of [...this.shares.keys()]) this.hideShare(userId);
    $('chat-log').replaceChildren();
    $('chat-error').hidden = true;
    this.unread = 0;
    this.renderUnread();
    this.setRecording(false);
    clearInterval(this.statsTimer);
    this.statsTimer = setInterval(() => this.updateStats().catch(() => {}), 1000);
  }

  // -- tiles ------------------------------------------------------------------------------------

  createTile(userId, name, local = false) {
    const tile = document.createElement('article');
    tile.className = 'tile' + (local ? ' local' : '');
    tile.dataset.userId = userId;
    tile.style.setProperty('--hue', String(hue(name)));
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    const avatar = document.createElement('div');
    avatar.className = 'avatar';
    const circle = document.createElement('span');
    circle.textContent = initials(name);
    avatar.append(circle);
    const stats = document.createElement('div');
    stats.className = 'stats';
    stats.hidden = !this.showStats;
    const plate = document.createElement('div');
    plate.className = 'nameplate';
    const micIcon = document.createElement('span');
    micIcon.className = 'mic-state';
    micIcon.innerHTML = icons.micOff;
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = local ? `${name} (you)` : name;
    plate.append(micIcon, label);
    tile.append(video, avatar, stats, plate);
    const record = { tile, video, stats, userId, name, audio: new Map(), videoConsumerId: null, layerButton: null };
    this.tiles.set(userId, record);
    $('grid').append(tile);
    this.layout();
    if (!local) this.resizeObserver.observe(tile);
    return record;
  }

  layout() {
    const count = Math.max(1, this.tiles.size);
    const columns = count <= 1 ? 1 : count <= 4 ? 2 : count <= 9 ? 3 : 4;
    $('grid').style.setProperty('--columns', String(columns));
    $('grid').dataset.count = String(count);
  }

  showLocal(name, track, muted) {
    const record = this.tiles.get('local') || this.createTile('local', name, true);
    this.setLocalVideo(track);
    this.setLocalMuted(muted);
    return record;
  }

  setLocalVideo(track) {
    const record = this.tiles.get('local');
    if (!record) return;
    record.video.srcObject = track ? new MediaStream([track]) : null;
    record.tile.classList.toggle('has-video', Boolean(track));
    this.setControl('cam', !track);
  }

  setLocalMuted(muted) {
    this.tiles.get('local')?.tile.classList.toggle('audio-off', muted);
    this.setControl('mic', muted);
  }

  addPeer(userId, name) {
    if (this.tiles.has(userId)) return;
    const record = this.createTile(userId, name);
    record.tile.classList.add('audio-off'); // until an audio consumer arrives
  }

  removePeer(userId) {
    this.hideShare(userId);
    const record = this.tiles.get(userId);
    if (!record) return;
    this.resizeObserver.unobserve(record.tile);
    for (const audio of record.audio.values()) audio.srcObject = null;
    record.video.srcObject = null;
    record.tile.remove();
    this.tiles.delete(userId);
    this.layout();
  }

  attach(userId, consumer, paused) {
    const record = this.tiles.get(userId);
    if (!record) return;
    const stream = new MediaStream([consumer.track]);
    if (consumer.kind === 'video') {
      record.videoConsumerId = consumer.id;
      record.video.srcObject = stream;
      record.video.play().catch(() => {});
    } else {
      const audio = document.createElement('audio');
      audio.autoplay = true;
      audio.srcObject = stream;
      record.tile.append(audio);
      record.audio.set(consumer.id, audio);
      audio.play().catch(() => this.banner('Click anywhere to enable sound.', 'info', true));
    }
    this.setRemotePaused(userId, consumer.kind, paused);
  }

  detach(userId, kind, consumerId) {
    const record = this.tiles.get(userId);
    if (!record) return;
    if (kind === 'video' && record.videoConsumerId === consumerId) {
      record.videoConsumerId = null;
      record.video.srcObject = null;
      record.tile.classList.remove('has-video');
      record.layerButton = null;
    } else {
      const audio = record.audio.get(consumerId);
      audio?.remove();
      record.audio.delete(consumerId);
      if (record.audio.size === 0) record.tile.classList.add('audio-off');
    }
  }

  setRemotePaused(userId, kind, paused) {
    const record = this.tiles.get(userId);
    if (!record) return;
    if (kind === 'video') record.tile.classList.toggle('has-video', !paused && record.videoConsumerId !== null);
    else record.tile.classList.toggle('audio-off', paused);
  }

  // -- the stage: screen shares ----------------------------------------------------------------

  showShare(userId, name, track) {
    this.hideShare(userId);
    const element = document.createElement('article');
    element.className = 'screen' + (userId === 'local' ? ' local' : '');
    element.dataset.userId = userId;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true;
    video.srcObject = new MediaStream([track]);
    const plate = document.createElement('div');
    plate.className = 'nameplate';
    const label = document.createElement('span');
    label.className = 'name';
    label.textContent = userId === 'local' ? 'You are sharing your screen' : `${name}'s screen`;
    plate.append(label);
    element.append(video, plate);
    $('stage').append(element);
    this.shares.set(userId, { element, video });
    video.play().catch(() => {});
    this.renderStage();
  }

  hideShare(userId) {
    const share = this.shares.get(userId);
    if (!share) return;
    share.video.srcObject = null;
    share.element.remove();
    this.shares.delete(userId);
    this.renderStage();
  }

  /** The newest share is shown large; the camera tiles move into a column beside it. */
  renderStage() {
    const entries = [...this.shares.values()];
    entries.forEach((share, index) => (share.element.hidden = index !== entries.length - 1));
    $('stage').hidden = entries.length === 0;
    $('main').classList.toggle('sharing', entries.length > 0);
    this.setControl('share', this.shares.has('local'));
  }

  // -- chat -------------------------------------------------------------------------------------

  addChat(message, own) {
    const item = document.createElement('li');
    item.className = own ? 'own' : '';
    const head = document.createElement('div');
    head.className = 'chat-meta';
    const who = document.createElement('strong');
    who.textContent = own ? 'You' : String(message.userName);
    const when = document.createElement('time');
    when.dateTime = new Date(message.ts).toISOString();
    when.textContent = clock(message.ts);
    head.append(who, ' ', when);
    const text = document.createElement('div');
    text.className = 'chat-text';
    text.textContent = String(message.text);
    item.append(head, text);
    const log = $('chat-log');
    log.append(item);
    while (log.children.length > CHAT_KEEP) log.firstElementChild.remove();
    log.scrollTop = log.scrollHeight;
    if (!own && $('chat').hidden) {
      this.unread += 1;
      this.renderUnread();
    }
  }

  chatError(message) {
    const error = $('chat-error');
    error.textContent = message || '';
    error.hidden = !message;
  }

  toggleChat(open) {
    $('chat').hidden = !open;
    $('chat-toggle').setAttribute('aria-pressed', String(open));
    if (open) {
      this.unread = 0;
      this.renderUnread();
      $('chat-input').focus();
      const log = $('chat-log');
      log.scrollTop = log.scrollHeight;
    }
  }

  renderUnread() {
    const badge = $('chat-badge');
    badge.textContent = this.unread > 99 ? '99+' : String(this.unread);
    badge.hidden = this.unread === 0;
  }

  // -- recording --------------------------------------------------------------------------------

  setRecording(active) {
    $('rec').hidden = !active;
  }

  setActiveSpeaker(userId) {
    for (const [id, record] of this.tiles) record.tile.classList.toggle('speaking', id === userId);
  }

  watchLayers(userId) {
    const record = this.tiles.get(userId);
    if (record) this.conference?.autoLayer(userId, record.tile.clientWidth);
  }

  // -- chrome -----------------------------------------------------------------------------------

  setControl(id, off) {
    const button = $(id);
    if (!button) return;
    button.classList.toggle('off', off);
    button.setAttribute('aria-pressed', String(off));
    if (id === 'mic') {
      button.innerHTML = off ? icons.micOff : icons.mic;
      button.title = off ? 'Unmute microphone' : 'Mute microphone';
    } else if (id === 'cam') {
      button.innerHTML = off ? icons.camOff : icons.cam;
      button.title = off ? 'Turn camera on' : 'Turn camera off';
    } else if (id === 'share') {
      // "off" here means sharing: the button then stops it
      button.innerHTML = off ? icons.shareOff : icons.share;
      button.title = off ? 'Stop sharing your screen' : 'Share your screen';
    }
  }

  setStatus(state, attempt) {
    const pill = $('status');
    pill.textContent = STATUS_TEXT[state] + (state === 'reconnecting' && attempt > 1 ? ` (${attempt})` : '');
    pill.dataset.state = state;
    document.body.dataset.state = state;
  }

  setCount(count) {
    $('count').textContent = `${count} in call`;
  }

  banner(message, kind = 'info', dismissOnClick = false, hideAfterMs = 0) {
    const banner = $('banner');
    clearTimeout(this.bannerTimer);
    if (!message) {
      banner.hidden = true;
      return;
    }
    banner.textContent = message;
    banner.dataset.kind = kind;
    banner.hidden = false;
    if (hideAfterMs) this.bannerTimer = setTimeout(() => (banner.hidden = true), hideAfterMs);
    if (dismissOnClick) {
      document.addEventListener(
        'click',
        () => {
          for (const record of this.tiles.values()) for (const a of record.audio.values()) a.play().catch(() => {});
          banner.hidden = true;
        },
        { once: true },
      );
    }
  }

  ended(message) {
    clearInterval(this.statsTimer);
    this.onEnded?.(message);
  }

  async listDevices(tracks) {
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    const fill = (select, kind, track) => {
      const current = track?.getSettings().deviceId;
      select.replaceChildren();
      devices
        .filter((d) => d.kind === kind)
        .forEach((device, index) => {
          const option = document.createElement('option');
          option.value = device.deviceId;
          option.textContent = device.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${index + 1}`;
          option.selected = device.deviceId === current;
          select.append(option);
        });
      select.disabled = select.options.length === 0;
    };
    fill($('camera-select'), 'videoinput', tracks.video);
    fill($('mic-select'), 'audioinput', tracks.audio);
  }

  toggleStats(show) {
    this.showStats = show;
    for (const record of this.tiles.values()) record.stats.hidden = !show;
    $('stats').classList.toggle('off', !show);
    $('stats').setAttribute('aria-pressed', String(show));
  }

  // -- statistics overlay -----------------------------------------------------------------------

  layerButton(record, entry) {
    if (record.layerButton && record.layerButton.dataset.consumerId === entry.consumer.id) return record.layerButton;
    const button = document.createElement('button');
    button.className = 'layer';
    button.dataset.consumerId = entry.consumer.id;
    button.title = 'Simulcast layer the server sends (click to change)';
    button.addEventListener('click', (event) => {
      event.stopPropagation();
      const current = this.conference.consumers.get(button.dataset.consumerId);
      if (!current) return;
      const index = LAYER_CHOICES.indexOf(current.manualLayer);
      const next = LAYER_CHOICES[(index + 1) % LAYER_CHOICES.length];
      if (next === null) {
        this.conference.clearManualLayer(current.consumer.id);
        current.layer = null;
        this.watchLayers(current.userId);
      } else {
        this.conference.setPreferredLayers(current.consumer.id, next).catch(() => {});
      }
    });
    record.layerButton = button;
    return button;
  }

  async updateStats() {
    const conference = this.conference;
    if (!conference || !this.showStats || conference.state === 'left') return;
    const keys = new Set();
    const lines = new Map(); // userId -> [text]
    const add = (userId, text) => lines.set(userId, [...(lines.get(userId) || []), text]);

    const recv = conference.peerConnection(conference.recvTransport);
    if (recv) {
      const byMid = inboundByMid(await recv.getStats());
      for (const entry of conference.consumers.values()) {
        const stat = byMid.get(String(entry.consumer.rtpParameters.mid));
        if (!stat || entry.source === 'screen') continue;
        keys.add(entry.consumer.id);
        const { bitrate, loss } = this.meter.rate(
          entry.consumer.id,
          stat.timestamp,
          stat.bytesReceived || 0,
          stat.packetsLost || 0,
          stat.packetsReceived || 0,
        );
        const lossText = Number.isFinite(loss) ? `loss ${loss.toFixed(1)}%` : 'loss –';
        if (entry.kind === 'video') {
          const size = stat.frameWidth ? `${stat.frameWidth}×${stat.frameHeight}` : '–';
          const fps = stat.framesPerSecond ? ` ${Math.round(stat.framesPerSecond)} fps` : '';
          add(entry.userId, { entry, text: `${stat.codec} ${size}${fps} · ${formatBitrate(bitrate)} · ${lossText}` });
        } else {
          add(entry.userId, { text: `${stat.codec} · ${formatBitrate(bitrate)} · ${lossText}` });
        }
      }
    }
    const send = conference.peerConnection(conference.sendTransport);
    if (send) {
      const byMid = outboundByMid(await send.getStats());
      for (const [kind, producer] of Object.entries(conference.producers)) {
        if (kind === 'screen') continue;
        const list = producer && byMid.get(String(producer.rtpParameters.mid));
        if (!list) continue;
        const bytes = list.reduce((sum, s) => sum + (s.bytesSent || 0), 0);
        keys.add(producer.id);
        const { bitrate } = this.meter.rate(producer.id, list[0].timestamp, bytes);
        if (kind === 'video') {
          const active = list.filter((s) => s.frameWidth);
          const top = active.reduce((best, s) => (s.frameWidth > (best?.frameWidth || 0) ? s : best), null);
          const size = top ? `${top.frameWidth}×${top.frameHeight}` : '–';
          add('local', { text: `${list[0].codec} ${size} · ${active.length} layers · ${formatBitrate(bitrate)}` });
        } else {
          add('local', { text: `${list[0].codec} · ${formatBitrate(bitrate)}${producer.paused ? ' · muted' : ''}` });
        }
      }
    }
    this.meter.forget(keys);
    for (const [userId, record] of this.tiles) {
      const rows = lines.get(userId) || [];
      const children = [];
      for (const row of rows) {
        const div = document.createElement('div');
        div.textContent = row.text;
        if (row.entry && row.entry.type === 'simulcast') {
          const button = this.layerButton(record, row.entry);
          const manual = row.entry.manualLayer;
          button.textContent = manual === null ? `L${row.entry.layer ?? '?'} auto` : `L${manual}`;
          div.append(' ', button);
        }
        children.push(div);
      }
      record.stats.replaceChildren(...children);
    }
  }
}
