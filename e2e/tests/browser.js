// Debian's Chromium driven by playwright-core for the WebRTC tests, and a
// static server for the pages that use the official KVS WebRTC SDK.
//
// TLS: the pages load over plain HTTP, but signaling is wss:// on openkvs'
// TLS listener, whose certificate is signed by openkvs' own CA. Chromium
// keeps its trust store in NSS outside the profile, so instead of adding
// the CA there (or ignoring every certificate error) the browser trusts
// exactly the server's key: --ignore-certificate-errors-spki-list with the
// SHA-256 of the served certificate's public key (honoured because the
// profile is an explicit, fresh --user-data-dir).
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { connect } from 'node:tls';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { KinesisVideoClient, GetSignalingChannelEndpointCommand } from '@aws-sdk/client-kinesis-video';
import { call } from '../../internal/console/static/kvs.js';
import { CREDENTIALS } from './server.js';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

// spkiHash returns the base64 SHA-256 of the public key of the certificate
// served at httpsURL, checked against the CA the server printed.
export async function spkiHash(httpsURL, ca) {
  const u = new URL(httpsURL);
  const sock = connect({ host: u.hostname, port: Number(u.port), ca, servername: u.hostname === '127.0.0.1' ? undefined : u.hostname });
  await once(sock, 'secureConnect');
  const cert = sock.getPeerX509Certificate();
  sock.end();
  const der = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

// launch starts Chromium with a fresh profile that trusts srv's TLS key.
export async function launch(srv) {
  const profile = mkdtempSync(join(tmpdir(), 'openkvs-chromium-'));
  const args = [...FLAGS, `--ignore-certificate-errors-spki-list=${await spkiHash(srv.https, srv.ca)}`];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args,
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    async page(url) {
      const p = await context.newPage();
      const errors = [];
      p.on('pageerror', (err) => errors.push(err.message));
      p.errors = errors;
      if (url) await p.goto(url);
      return p;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

const PAGES = resolve(import.meta.dirname, '../pages');
const SDK = resolve(import.meta.dirname, '../node_modules/amazon-kinesis-video-streams-webrtc/dist/kvs-webrtc.min.js');
const FILES = {
  '/sdk-peer.html': [join(PAGES, 'sdk-peer.html'), 'text/html; charset=utf-8'],
  '/sdk-peer.js': [join(PAGES, 'sdk-peer.js'), 'text/javascript; charset=utf-8'],
  '/kvs-webrtc.min.js': [SDK, 'text/javascript; charset=utf-8'],
};

// startPages serves the official-SDK pages on a loopback port.
export async function startPages() {
  const server = createServer((req, res) => {
    const f = FILES[new URL(req.url, 'http://x').pathname];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': f[1] }).end(readFileSync(f[0]));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => server.close(r)),
  };
}

// viewerChannel asks the server at endpoint (plain HTTP) for what the
// official SDK's viewer page needs to join channel: its ARN, the WSS
// endpoint and the ICE servers (TURN credentials for clientId).
export async function viewerChannel({ endpoint, channel, region, clientId }) {
  const kv = new KinesisVideoClient({ region, endpoint, credentials: CREDENTIALS });
  const arn = (await call({ endpoint, path: '/describeSignalingChannel', body: { ChannelName: channel }, region, credentials: CREDENTIALS })).ChannelInfo.ChannelARN;
  const { ResourceEndpointList: list } = await kv.send(new GetSignalingChannelEndpointCommand({
    ChannelARN: arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: 'VIEWER' },
  }));
  const ice = await call({
    endpoint, path: '/v1/get-ice-server-config', region, credentials: CREDENTIALS,
    body: { ChannelARN: arn, ClientId: clientId, Service: 'TURN' },
  });
  return {
    channelARN: arn, region, credentials: CREDENTIALS, clientId,
    wss: list.find((e) => e.Protocol === 'WSS').ResourceEndpoint,
    iceServers: ice.IceServerList.map((s) => ({ urls: s.Uris, username: s.Username, credential: s.Password })),
  };
}
