// WebRTC in Debian's Chromium through openkvs signaling alone: the official
// KVS WebRTC SDK as master and as viewer, and the console's /webrtc page
// against it in both roles. Every peer is on loopback (see e2e/run.sh for
// the network namespace the suite runs in).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  KinesisVideoClient, CreateSignalingChannelCommand, GetSignalingChannelEndpointCommand,
} from '@aws-sdk/client-kinesis-video';
import { call } from '../../internal/console/static/kvs.js';
import { startServer, CREDENTIALS } from './server.js';
import { launch, startPages } from './browser.js';

const REGION = 'us-west-2';
const FRAME_TIMEOUT = 20_000;

let srv;
let pages;
let browser;
let kv;

before(async () => {
  // TURN over TLS too: GetIceServerConfig then hands out TCP TURN as
  // turns: only, as KVS does.
  srv = await startServer({ extraArgs: ['--turn-tls-listen', '127.0.0.1:0'] });
  pages = await startPages();
  browser = await launch(srv);
  kv = new KinesisVideoClient({ region: REGION, endpoint: srv.http, credentials: CREDENTIALS });
});
after(async () => {
  await browser?.close();
  await pages?.close();
  await srv?.stop();
});

// channel creates a signaling channel and returns what an SDK peer needs
// for role: the ARN, the WSS endpoint and the ICE servers.
async function channel(name, role) {
  let arn;
  try {
    ({ ChannelARN: arn } = await kv.send(new CreateSignalingChannelCommand({ ChannelName: name })));
  } catch (err) {
    if (err.name !== 'ResourceInUseException') throw err;
    arn = (await call({ endpoint: srv.http, path: '/describeSignalingChannel', body: { ChannelName: name }, region: REGION, credentials: CREDENTIALS })).ChannelInfo.ChannelARN;
  }
  const { ResourceEndpointList: list } = await kv.send(new GetSignalingChannelEndpointCommand({
    ChannelARN: arn, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: role },
  }));
  const wss = list.find((e) => e.Protocol === 'WSS').ResourceEndpoint;
  assert.match(wss, /^wss:\/\/127\.0\.0\.1:\d+$/);
  const ice = await call({
    endpoint: srv.http, path: '/v1/get-ice-server-config', region: REGION, credentials: CREDENTIALS,
    body: { ChannelARN: arn, ClientId: role === 'VIEWER' ? 'sdk-viewer' : 'MASTER', Service: 'TURN' },
  });
  const iceServers = ice.IceServerList.map((s) => ({ urls: s.Uris, username: s.Username, credential: s.Password }));
  return { channelARN: arn, wss, region: REGION, credentials: CREDENTIALS, iceServers };
}

async function sdkPage() {
  return browser.page(`${pages.url}/sdk-peer.html`);
}

// sdkFrames waits until the SDK viewer page decoded and displayed frames
// (inbound-rtp framesDecoded and the video element's playback quality)
// and, with audio, received audio packets.
async function sdkFrames(page, { audio = false } = {}) {
  const deadline = Date.now() + FRAME_TIMEOUT;
  let got;
  for (;;) {
    got = await page.evaluate(() => window.sdkPeer.received());
    if (got.framesDecoded > 0 && got.totalVideoFrames > 0 && got.width > 0 && (!audio || got.audioPackets > 0)) return got;
    if (Date.now() > deadline) break;
    await page.waitForTimeout(200);
  }
  throw new Error(`no frames decoded: ${JSON.stringify(got)}\npage log:\n${await page.evaluate(() => window.sdkPeer.log())}`);
}

// consolePage opens /webrtc on the HTTP listener, fills the form and starts.
async function consolePage(fields) {
  const page = await browser.page(`${srv.http}/webrtc`);
  assert.equal(await page.inputValue('#endpoint'), srv.http, 'endpoint defaults to the page origin');
  for (const [id, value] of Object.entries({ region: REGION, accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: CREDENTIALS.secretAccessKey, ...fields })) {
    if (id === 'role') await page.selectOption('#role', value);
    else if (value === true) await page.check(`#${id}`);
    else await page.fill(`#${id}`, value);
  }
  await page.click('#start');
  return page;
}

function consoleLog(page) {
  return page.evaluate(() => document.getElementById('log').textContent);
}

test('official SDK master (fake camera) and official SDK viewer connect through openkvs', async () => {
  const master = await sdkPage();
  const viewer = await sdkPage();
  try {
    await master.evaluate((o) => window.sdkPeer.startMaster(o), await channel('e2e-sdk-both', 'MASTER'));
    await viewer.evaluate((o) => window.sdkPeer.startViewer({ ...o, clientId: 'sdk-viewer' }), await channel('e2e-sdk-both', 'VIEWER'));
    const got = await sdkFrames(viewer);
    assert.ok(got.framesDecoded > 0, JSON.stringify(got));
    assert.deepEqual([...master.errors, ...viewer.errors], []);
  } finally {
    await master.close();
    await viewer.close();
  }
});

test('official SDK viewer relayed over TURN/TLS (turns:, the openkvs certificate) plays the official SDK master', async () => {
  const master = await sdkPage();
  const viewer = await sdkPage();
  try {
    await master.evaluate((o) => window.sdkPeer.startMaster(o), await channel('e2e-sdk-turns', 'MASTER'));
    const opts = await channel('e2e-sdk-turns', 'VIEWER');
    const iceServers = opts.iceServers.map((s) => ({ ...s, urls: s.urls.filter((u) => u.startsWith('turns:')) }))
      .filter((s) => s.urls.length > 0);
    assert.ok(iceServers.length > 0, JSON.stringify(opts.iceServers));
    await viewer.evaluate((o) => window.sdkPeer.startViewer(o),
      { ...opts, clientId: 'sdk-viewer-turns', iceServers, iceTransportPolicy: 'relay' });
    const got = await sdkFrames(viewer);
    assert.equal(got.relayProtocol, 'tls', JSON.stringify(got));
    assert.deepEqual([...master.errors, ...viewer.errors], []);
  } finally {
    await master.close();
    await viewer.close();
  }
});

test('/webrtc page as viewer plays the official SDK master', async () => {
  const master = await sdkPage();
  let page;
  try {
    await master.evaluate((o) => window.sdkPeer.startMaster(o), await channel('e2e-console-viewer', 'MASTER'));
    page = await consolePage({ channel: 'e2e-console-viewer', role: 'viewer', clientId: 'console-viewer' });
    try {
      await page.waitForFunction(() => Number(document.getElementById('stat-framesDecoded').textContent) > 0
        && document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames > 0, null, { timeout: FRAME_TIMEOUT, polling: 200 });
    } catch (err) {
      throw new Error(`${err.message}\npage log:\n${await consoleLog(page)}`);
    }
    assert.equal(await page.getAttribute('#status', 'data-state'), 'connected');
    assert.match(await page.textContent('#stat-codec'), /^video\//);
    assert.match(await page.textContent('#stat-resolution'), /^\d+×\d+$/);
    assert.ok(Number(await page.textContent('#stat-bytesReceived')) > 0);
    await page.waitForFunction(() => Number(document.getElementById('stat-fps').textContent) > 0, null, { timeout: FRAME_TIMEOUT });
    assert.match(await page.textContent('#stat-pair'), /^host\/udp → host 127\.0\.0\.1:\d+$/);
    assert.deepEqual(page.errors, []);
    await page.click('#stop');
    assert.equal(await page.textContent('#status'), 'stopped');
  } finally {
    await master.close();
    await page?.close();
  }
});

test('/webrtc page as viewer, relay only, plays the official SDK master through openkvs TURN', async () => {
  const master = await sdkPage();
  let page;
  try {
    await master.evaluate((o) => window.sdkPeer.startMaster(o), await channel('e2e-console-relay', 'MASTER'));
    page = await consolePage({ channel: 'e2e-console-relay', role: 'viewer', clientId: 'relay-viewer', relayOnly: true });
    try {
      await page.waitForFunction(() => Number(document.getElementById('stat-framesDecoded').textContent) > 0
        && document.getElementById('stat-pair').textContent.startsWith('relay/'), null, { timeout: FRAME_TIMEOUT, polling: 200 });
    } catch (err) {
      throw new Error(`${err.message}\npage log:\n${await consoleLog(page)}\npair: ${await page.textContent('#stat-pair')}`);
    }
    assert.match(await page.textContent('#stat-pair'), /^relay\/udp via TURN\/(udp|tcp|tls) → /);
    assert.deepEqual(page.errors, []);
  } finally {
    await master.close();
    await page?.close();
  }
});

for (const [role, source, tracks] of [['master-canvas', 'canvas', 'video'], ['master-camera', 'fake camera and microphone', 'audio+video']]) {
  test(`/webrtc page as master (${source}) is played by the official SDK viewer`, async () => {
    const name = `e2e-console-${role}`;
    const viewer = await sdkPage();
    let page;
    try {
      page = await consolePage({ channel: name, role, create: true });
      await page.waitForFunction(() => document.getElementById('status').textContent === 'waiting for viewers', null, { timeout: FRAME_TIMEOUT })
        .catch(async (err) => { throw new Error(`${err.message}\npage log:\n${await consoleLog(page)}`); });
      assert.match(await consoleLog(page), new RegExp(`sending ${tracks.replace('+', '\\+')}\n`));
      await viewer.evaluate((o) => window.sdkPeer.startViewer({ ...o, clientId: 'sdk-viewer' }), await channel(name, 'VIEWER'));
      const got = await sdkFrames(viewer, { audio: tracks === 'audio+video' });
      assert.ok(got.framesDecoded > 0, JSON.stringify(got));
      await page.waitForFunction(() => Number(document.getElementById('stat-framesEncoded').textContent) > 0, null, { timeout: FRAME_TIMEOUT });
      assert.equal(await page.textContent('#stat-peers'), '1');
      assert.deepEqual(page.errors, []);
    } finally {
      await viewer.close();
      await page?.close();
    }
  });
}

test('/webrtc page reports KVS errors: wrong secret, unknown channel', async () => {
  for (const [fields, type, message] of [
    [{ channel: 'e2e-console-viewer', secretAccessKey: 'not-the-secret' }, 'InvalidSignatureException', /signature we calculated does not match/],
    [{ channel: 'e2e-no-such-channel' }, 'ResourceNotFoundException', /not found/i],
  ]) {
    const page = await consolePage({ role: 'viewer', ...fields });
    try {
      await page.waitForFunction(() => document.getElementById('status').dataset.state === 'error', null, { timeout: FRAME_TIMEOUT });
      assert.equal(await page.textContent('#status'), type);
      assert.match(await consoleLog(page), message);
      assert.equal(await page.isDisabled('#start'), false, 'Start is enabled again');
    } finally {
      await page.close();
    }
  }
});
