// A small KVS client for the console: the control-plane and signaling
// HTTPS calls a WebRTC peer needs (signed with sigv4.js) and the signaling
// WebSocket with its message encoding.

import { signRequest, presignURL } from './sigv4.js';

/** An error answered by a KVS API, with its AWS error type and status. */
export class KVSError extends Error {
  constructor(type, status, message) {
    super(`${type} (${status}): ${message}`);
    this.type = type;
    this.status = status;
  }
}

/**
 * Calls one KVS JSON operation: a signed POST of body to endpoint + path.
 * Returns the parsed response or throws a KVSError.
 */
export async function call({ endpoint, path, body, region, credentials }) {
  const url = endpoint.replace(/\/+$/, '') + path;
  const json = JSON.stringify(body);
  const headers = await signRequest({
    method: 'POST', url, headers: { 'Content-Type': 'application/json' }, body: json, region, credentials,
  });
  const res = await fetch(url, { method: 'POST', headers, body: json });
  const text = await res.text();
  let out = {};
  try { out = text ? JSON.parse(text) : {}; } catch { /* not JSON: reported below */ }
  if (!res.ok) {
    const type = (res.headers.get('x-amzn-ErrorType') || out.__type || 'Error').split(':')[0];
    throw new KVSError(type, res.status, out.message || out.Message || text.slice(0, 200));
  }
  return out;
}

/**
 * Finds a signaling channel and where to reach it, as the KVS SDKs do:
 * DescribeSignalingChannel, GetSignalingChannelEndpoint (WSS and HTTPS for
 * role), then GetIceServerConfig on the HTTPS endpoint. Returns
 * { channelARN, wss, https, iceServers } with iceServers in
 * RTCConfiguration form. log(msg) receives progress lines.
 */
export async function discover({ endpoint, channel, role, clientId, region, credentials, log = () => {} }) {
  const auth = { region, credentials };
  const { ChannelInfo: info } = await call({ ...auth, endpoint, path: '/describeSignalingChannel', body: { ChannelName: channel } });
  log(`channel ${info.ChannelARN} (${info.ChannelStatus})`);
  const { ResourceEndpointList: list = [] } = await call({
    ...auth, endpoint, path: '/getSignalingChannelEndpoint',
    body: { ChannelARN: info.ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: role } },
  });
  const find = (p) => (list.find((e) => e.Protocol.toUpperCase() === p) || {}).ResourceEndpoint;
  const wss = find('WSS');
  const https = find('HTTPS');
  if (!wss) throw new Error('GetSignalingChannelEndpoint returned no WSS endpoint');
  log(`signaling endpoints: ${wss} ${https || '(no HTTPS)'}`);

  const iceBody = { ChannelARN: info.ChannelARN, ClientId: clientId || 'MASTER', Service: 'TURN' };
  let ice;
  try {
    ice = await call({ ...auth, endpoint: https || endpoint, path: '/v1/get-ice-server-config', body: iceBody });
  } catch (err) {
    if (err instanceof KVSError || !https || https === endpoint) throw err;
    // A fetch that fails outright: the HTTPS endpoint is another origin that
    // this browser cannot reach (certificate, CORS). The endpoint the page
    // talks to serves the same API.
    log(`GetIceServerConfig at ${https} failed (${err.message}); asking ${endpoint}`);
    ice = await call({ ...auth, endpoint, path: '/v1/get-ice-server-config', body: iceBody });
  }
  const iceServers = (ice.IceServerList || []).map((s) => ({ urls: s.Uris, username: s.Username, credential: s.Password }));
  log(`ICE servers: ${iceServers.flatMap((s) => s.urls).join(' ') || 'none'}`);
  return { channelARN: info.ChannelARN, wss, https, iceServers };
}

// UTF-8 safe base64 of a JSON value, and back.
export function encodePayload(value) {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function decodePayload(b64) {
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/**
 * A KVS signaling connection. Handlers: onOpen(), onMessage(type, payload,
 * senderClientId) for SDP_OFFER/SDP_ANSWER/ICE_CANDIDATE, onStatus(status),
 * onGoAway(), onReconnectIce(), onClose(code, reason).
 */
export class Signaling {
  constructor({ wss, channelARN, clientId, role, region, credentials }) {
    Object.assign(this, { wss, channelARN, clientId, role, region, credentials });
    this.ws = null;
    this.handlers = {};
  }

  on(name, fn) { this.handlers[name] = fn; return this; }

  emit(name, ...args) { this.handlers[name]?.(...args); }

  /** Presigns the URL and opens the WebSocket; resolves once it is open. */
  async open() {
    let url = this.wss.replace(/\/+$/, '') + '/?X-Amz-ChannelARN=' + encodeURIComponent(this.channelARN);
    if (this.role === 'VIEWER') url += '&X-Amz-ClientId=' + encodeURIComponent(this.clientId);
    const signed = await presignURL({ url, region: this.region, credentials: this.credentials });
    const ws = new WebSocket(signed);
    this.ws = ws;
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`WebSocket to ${this.wss} failed`));
      ws.onclose = (e) => reject(new Error(`WebSocket to ${this.wss} closed (${e.code}) before it opened`));
    });
    ws.onerror = null;
    ws.onclose = (e) => this.emit('close', e.code, e.reason);
    ws.onmessage = (e) => this.receive(e.data);
    this.emit('open');
  }

  receive(data) {
    let msg;
    try { msg = JSON.parse(data); } catch { return this.emit('error', new Error('unparsable signaling message')); }
    switch (msg.messageType) {
      case 'GO_AWAY': return this.emit('goAway');
      case 'RECONNECT_ICE_SERVER': return this.emit('reconnectIce');
      case 'STATUS_RESPONSE': return this.emit('status', msg.statusResponse || {});
      case 'SDP_OFFER': case 'SDP_ANSWER': case 'ICE_CANDIDATE': {
        let payload;
        try { payload = decodePayload(msg.messagePayload); } catch { return this.emit('error', new Error(`bad ${msg.messageType} payload`)); }
        return this.emit('message', msg.messageType, payload, msg.senderClientId || '');
      }
      default: return this.emit('error', new Error(`unknown message type ${msg.messageType}`));
    }
  }

  /** Sends one message; recipient is the viewer's id (master only). */
  send(action, payload, recipientClientId) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    const msg = { action, messagePayload: encodePayload(payload) };
    if (recipientClientId) msg.recipientClientId = recipientClientId;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  close() {
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
      this.ws = null;
    }
  }
}
