// The /webrtc page: connects to a KVS signaling channel as viewer or as
// master and plays (or sends) video over WebRTC, with live statistics.

import { call, discover, KVSError, Signaling } from './kvs.js';

const $ = (id) => document.getElementById(id);
const FIELDS = ['endpoint', 'channel', 'region', 'accessKeyId', 'sessionToken', 'role', 'clientId'];

let session = null;

function log(msg) {
  const line = `${new Date().toISOString().slice(11, 23)} ${msg}\n`;
  $('log').textContent += line;
  $('log').scrollTop = $('log').scrollHeight;
}

function setStatus(state, text = state) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

function randomId(prefix) {
  const b = crypto.getRandomValues(new Uint8Array(4));
  return prefix + '-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// Fields may be prefilled from the query string (never the secret key).
function prefill() {
  const q = new URLSearchParams(location.search);
  for (const f of FIELDS) if (q.has(f)) $(f).value = q.get(f);
  if (!$('endpoint').value) $('endpoint').value = location.origin;
  if (!$('clientId').value) $('clientId').value = randomId('viewer');
}

// One RTCPeerConnection and the ICE candidates that arrived before its
// remote description.
class Peer {
  constructor(id, config, sig, remoteId, onGone = () => {}) {
    this.id = id;
    this.pc = new RTCPeerConnection(config);
    this.pending = [];
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === 'failed' || this.pc.connectionState === 'closed') onGone(this);
    };
    this.pc.onicecandidate = ({ candidate }) => {
      if (candidate) sig.send('ICE_CANDIDATE', candidate.toJSON(), remoteId);
    };
    this.pc.oniceconnectionstatechange = () => {
      log(`${id}: ICE ${this.pc.iceConnectionState}`);
      $('stat-ice').textContent = this.pc.iceConnectionState;
      if (this.pc.iceConnectionState === 'connected') setStatus('connected');
    };
  }

  async remote(desc) {
    await this.pc.setRemoteDescription(desc);
    for (const c of this.pending.splice(0)) await this.candidate(c);
  }

  async candidate(c) {
    if (!this.pc.remoteDescription) {
      this.pending.push(c);
      return;
    }
    try {
      await this.pc.addIceCandidate(c);
    } catch (err) {
      log(`${this.id}: ICE candidate refused: ${err.message}`);
    }
  }

  close() { this.pc.close(); }
}

// A canvas animation captured as a video track: a moving bar and a clock.
function canvasStream() {
  const canvas = $('canvas');
  const ctx = canvas.getContext('2d');
  let frame = 0;
  const timer = setInterval(() => {
    frame++;
    const { width: w, height: h } = canvas;
    ctx.fillStyle = `hsl(${(frame * 2) % 360} 60% 35%)`;
    ctx.fillRect(0, 0, w, h);
    ctx.fillStyle = '#fff';
    ctx.fillRect((frame * 8) % w, 0, 40, h);
    ctx.font = '48px monospace';
    ctx.fillText(new Date().toISOString().slice(11, 22), 20, h / 2);
  }, 1000 / 30);
  const stream = canvas.captureStream(30);
  stream.stopCanvas = () => clearInterval(timer);
  return stream;
}

async function start() {
  const v = Object.fromEntries(FIELDS.map((f) => [f, $(f).value.trim()]));
  const credentials = { accessKeyId: v.accessKeyId, secretAccessKey: $('secretAccessKey').value.trim() };
  if (v.sessionToken) credentials.sessionToken = v.sessionToken;
  const master = v.role.startsWith('master');
  const role = master ? 'MASTER' : 'VIEWER';
  const endpoint = v.endpoint || location.origin;
  const s = { peers: new Map(), stream: null, sig: null, timer: null, stopped: false, started: performance.now() };
  session = s;
  $('stat-ttff').textContent = '–';
  $('tls-hint').hidden = true;
  setStatus('connecting');
  $('start').disabled = true;
  $('stop').disabled = false;

  try {
    // Stop may be pressed while a step is pending: then end there.
    if ($('create').checked) await ensureChannel(endpoint, v, credentials);
    if (s.stopped) return;
    const d = await discover({ endpoint, channel: v.channel, role, clientId: master ? '' : v.clientId, region: v.region, credentials, log });
    if (s.stopped) return;
    const config = { iceServers: d.iceServers, iceTransportPolicy: $('relayOnly').checked ? 'relay' : 'all' };
    if (master) {
      s.stream = v.role === 'master-camera'
        ? await navigator.mediaDevices.getUserMedia({ video: true, audio: true })
        : canvasStream();
      if (s.stopped) return release(s);
      $('video').srcObject = s.stream;
      log(`sending ${s.stream.getTracks().map((t) => t.kind).join('+')}`);
    }
    const sig = new Signaling({ wss: d.wss, channelARN: d.channelARN, clientId: v.clientId, role, region: v.region, credentials });
    s.sig = sig;
    sig.on('message', (type, payload, sender) => onMessage(s, config, type, payload, sender).catch((err) => log(`error: ${err.message}`)))
      .on('status', (st) => log(`STATUS_RESPONSE ${st.statusCode} ${st.errorType}: ${st.description}`))
      .on('goAway', () => { log('GO_AWAY: the server is closing this connection'); stop(); })
      .on('reconnectIce', () => log('RECONNECT_ICE_SERVER received'))
      .on('error', (err) => log(`signaling: ${err.message}`))
      .on('close', (code) => { log(`signaling closed (${code})`); if (!s.stopped) setStatus('error', `signaling closed (${code})`); });
    try {
      await sig.open();
    } catch (err) {
      if (d.wss.startsWith('wss:')) showTLSHint(d.https || d.wss.replace(/^wss:/, 'https:'));
      throw err;
    }
    if (s.stopped) return release(s);
    log(`signaling connected as ${role}${master ? '' : ' ' + v.clientId}`);
    setStatus('signaling', master ? 'waiting for viewers' : 'offering');
    if (!master) await offer(s, config, sig);
    s.timer = setInterval(() => updateStats(s), 1000);
  } catch (err) {
    if (s.stopped) return release(s);
    log(`error: ${err.message}`);
    stop();
    setStatus('error', err instanceof KVSError ? err.type : 'error');
  }
}

// showTLSHint explains a failed wss:// connect: the browser says nothing
// of why, and the usual cause is a certificate it does not trust.
function showTLSHint(httpsURL) {
  const a = $('tls-link');
  a.href = httpsURL.replace(/\/*$/, '/');
  a.textContent = a.href;
  $('tls-hint').hidden = false;
  log(`the browser probably does not trust ${httpsURL}: open it once and accept the certificate, or trust the openkvs CA (see /), then retry`);
}

async function ensureChannel(endpoint, v, credentials) {
  const auth = { endpoint, region: v.region, credentials };
  try {
    await call({ ...auth, path: '/describeSignalingChannel', body: { ChannelName: v.channel } });
  } catch (err) {
    if (!(err instanceof KVSError) || err.type !== 'ResourceNotFoundException') throw err;
    await call({ ...auth, path: '/createSignalingChannel', body: { ChannelName: v.channel, ChannelType: 'SINGLE_MASTER' } });
    log(`created channel ${v.channel}`);
  }
}

// The viewer offers to receive audio and video.
async function offer(s, config, sig) {
  const p = new Peer('master', config, sig, '');
  s.peers.set('', p);
  p.pc.addTransceiver('video', { direction: 'recvonly' });
  p.pc.addTransceiver('audio', { direction: 'recvonly' });
  p.pc.ontrack = ({ streams, track }) => {
    log(`receiving ${track.kind}`);
    if (track.kind !== 'video') return;
    const video = $('video');
    video.srcObject = streams[0] || new MediaStream([track]);
    // Time to first frame: from Start to the first frame painted.
    video.requestVideoFrameCallback(() => {
      if (session !== s) return;
      const ms = performance.now() - s.started;
      $('stat-ttff').textContent = ms.toFixed(0);
      log(`first frame after ${ms.toFixed(0)} ms`);
    });
  };
  await p.pc.setLocalDescription(await p.pc.createOffer());
  sig.send('SDP_OFFER', p.pc.localDescription.toJSON());
  log('SDP_OFFER sent');
}

async function onMessage(s, config, type, payload, sender) {
  const master = s.stream !== null;
  if (type === 'SDP_OFFER' && master) {
    s.peers.get(sender)?.close();
    const p = new Peer(sender, config, s.sig, sender, (gone) => {
      if (s.peers.get(sender) !== gone) return;
      log(`${sender}: connection ${gone.pc.connectionState}, dropped`);
      gone.close();
      s.peers.delete(sender);
    });
    s.peers.set(sender, p);
    for (const t of s.stream.getTracks()) p.pc.addTrack(t, s.stream);
    await p.remote(payload);
    await p.pc.setLocalDescription(await p.pc.createAnswer());
    s.sig.send('SDP_ANSWER', p.pc.localDescription.toJSON(), sender);
    log(`answered ${sender}`);
    return;
  }
  const p = s.peers.get(master ? sender : '');
  if (!p) return log(`${type} from unknown peer ${sender || 'MASTER'} ignored`);
  if (type === 'SDP_ANSWER') {
    await p.remote(payload);
    log('SDP_ANSWER received');
  } else if (type === 'ICE_CANDIDATE') {
    await p.candidate(payload);
  }
}

// updateStats sums the peers' RTP statistics into the table.
async function updateStats(s) {
  const t = { fps: 0, framesDecoded: 0, bytesReceived: 0, framesEncoded: 0, bytesSent: 0, rtt: [], codec: '', resolution: '', pair: '' };
  for (const p of s.peers.values()) {
    const report = await p.pc.getStats();
    report.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'video') {
        t.framesDecoded += r.framesDecoded || 0;
        if (r.frameWidth) t.resolution = `${r.frameWidth}×${r.frameHeight}`;
        if (r.codecId && report.get(r.codecId)) t.codec = report.get(r.codecId).mimeType;
      }
      if (r.type === 'inbound-rtp') t.bytesReceived += r.bytesReceived || 0;
      if (r.type === 'outbound-rtp') {
        t.bytesSent += r.bytesSent || 0;
        if (r.kind === 'video') {
          t.framesEncoded += r.framesEncoded || 0;
          if (r.codecId && report.get(r.codecId)) t.codec = report.get(r.codecId).mimeType;
        }
      }
      if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') {
        if (r.currentRoundTripTime !== undefined) t.rtt.push(r.currentRoundTripTime * 1000);
        const local = report.get(r.localCandidateId);
        const remote = report.get(r.remoteCandidateId);
        if (local && remote) {
          const relay = local.relayProtocol ? ` via TURN/${local.relayProtocol}` : '';
          t.pair = `${local.candidateType}/${local.protocol}${relay} → ${remote.candidateType} ${remote.address}:${remote.port}`;
        }
      }
    });
  }
  if (session !== s) return;
  // Inbound fps over the last interval, from the decoded-frame counter.
  const now = performance.now();
  if (s.last && now > s.last.at) t.fps = Math.max(0, (t.framesDecoded - s.last.framesDecoded) * 1000 / (now - s.last.at));
  s.last = { at: now, framesDecoded: t.framesDecoded };
  $('stat-peers').textContent = String(s.peers.size);
  $('stat-fps').textContent = t.fps.toFixed(0);
  $('stat-framesDecoded').textContent = String(t.framesDecoded);
  $('stat-bytesReceived').textContent = String(t.bytesReceived);
  $('stat-framesEncoded').textContent = String(t.framesEncoded);
  $('stat-bytesSent').textContent = String(t.bytesSent);
  $('stat-codec').textContent = t.codec || '–';
  $('stat-resolution').textContent = t.resolution || '–';
  $('stat-pair').textContent = t.pair || '–';
  $('stat-rtt').textContent = t.rtt.length ? Math.max(...t.rtt).toFixed(1) : '–';
}

// release closes everything session s holds.
function release(s) {
  clearInterval(s.timer);
  s.sig?.close();
  for (const p of s.peers.values()) p.close();
  s.peers.clear();
  s.stream?.getTracks().forEach((t) => t.stop());
  s.stream?.stopCanvas?.();
}

function stop() {
  const s = session;
  if (!s || s.stopped) return;
  s.stopped = true;
  release(s);
  $('video').srcObject = null;
  $('start').disabled = false;
  $('stop').disabled = true;
  setStatus('idle', 'stopped');
  log('stopped');
}

prefill();
$('settings').addEventListener('submit', (e) => { e.preventDefault(); if (!session || session.stopped) start(); });
$('stop').addEventListener('click', stop);
