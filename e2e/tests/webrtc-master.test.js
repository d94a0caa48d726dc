// `openkvs master` (pion, streaming the sample H.264 from testdata/) played
// in Debian's Chromium by the official KVS WebRTC SDK as viewer and by the
// console's /webrtc page, through openkvs signaling. Skipped, with a note,
// when the binary has no `master` command.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { KinesisVideoClient, CreateSignalingChannelCommand } from '@aws-sdk/client-kinesis-video';
import { startServer, BIN, CREDENTIALS } from './server.js';
import { launch, startPages, viewerChannel } from './browser.js';

const REGION = 'us-west-2';
const FRAME_TIMEOUT = 20_000;
const CHANNEL = 'e2e-openkvs-master';
const skip = spawnSync(BIN, ['master', '--help']).status === 0 ? false : 'this openkvs has no `master` command';

let srv;
let pages;
let browser;
let master;

before(async () => {
  if (skip) return;
  srv = await startServer();
  pages = await startPages();
  browser = await launch(srv);
  const kv = new KinesisVideoClient({ region: REGION, endpoint: srv.http, credentials: CREDENTIALS });
  await kv.send(new CreateSignalingChannelCommand({ ChannelName: CHANNEL }));
  master = startMaster();
});
after(async () => {
  if (master && master.proc.exitCode === null) {
    master.proc.kill('SIGTERM');
    await once(master.proc, 'exit');
  }
  await browser?.close();
  await pages?.close();
  await srv?.stop();
});

// startMaster runs `openkvs master CHANNEL` against the server's HTTPS
// listener with the server's CA; it streams the sample H.264 in a loop.
function startMaster() {
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_REGION: REGION,
  };
  delete env.AWS_SESSION_TOKEN;
  delete env.AWS_PROFILE;
  const proc = spawn(BIN, ['master', CHANNEL, '--endpoint-url', srv.https, '--region', REGION, '--ca-bundle', srv.caPath, '--loopback-only'],
    { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const m = { proc, out: '' };
  proc.stdout.on('data', (d) => { m.out += d; });
  proc.stderr.on('data', (d) => { m.out += d; });
  return m;
}

function masterLog() {
  return `openkvs master (exit ${master.proc.exitCode}):\n${master.out.slice(-4000)}`;
}

test('official SDK viewer plays openkvs master (H.264 video, Opus audio)', { skip }, async () => {
  const viewer = await browser.page(`${pages.url}/sdk-peer.html`);
  try {
    await viewer.evaluate((o) => window.sdkPeer.startViewer(o), await viewerChannel({ endpoint: srv.http, channel: CHANNEL, region: REGION, clientId: 'sdk-viewer' }));
    const deadline = Date.now() + FRAME_TIMEOUT;
    let got;
    for (;;) {
      got = await viewer.evaluate(() => window.sdkPeer.received());
      if (got.framesDecoded > 0 && got.totalVideoFrames > 0 && got.audioPackets > 0) break;
      if (Date.now() > deadline) {
        assert.fail(`no frames decoded: ${JSON.stringify(got)}\npage log:\n${await viewer.evaluate(() => window.sdkPeer.log())}\n${masterLog()}`);
      }
      await viewer.waitForTimeout(200);
    }
    assert.equal(got.codec, 'video/H264');
    assert.deepEqual(viewer.errors, []);
  } finally {
    await viewer.close();
  }
});

test('/webrtc page as viewer plays openkvs master (H.264)', { skip }, async (t) => {
  const page = await browser.page(`${srv.http}/webrtc`);
  try {
    for (const [id, value] of Object.entries({
      channel: CHANNEL, region: REGION, accessKeyId: CREDENTIALS.accessKeyId, secretAccessKey: CREDENTIALS.secretAccessKey, clientId: 'console-viewer',
    })) await page.fill(`#${id}`, value);
    await page.click('#start');
    try {
      await page.waitForFunction(() => Number(document.getElementById('stat-framesDecoded').textContent) > 0
        && document.getElementById('video').getVideoPlaybackQuality().totalVideoFrames > 0, null, { timeout: FRAME_TIMEOUT, polling: 200 });
    } catch (err) {
      assert.fail(`${err.message}\npage log:\n${await page.textContent('#log')}\n${masterLog()}`);
    }
    assert.equal(await page.textContent('#stat-codec'), 'video/H264');
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById('stat-ttff').textContent), null, { timeout: FRAME_TIMEOUT });
    t.diagnostic(`time to first frame (Start to first painted frame): ${await page.textContent('#stat-ttff')} ms`);
    assert.deepEqual(page.errors, []);
  } finally {
    await page.close();
  }
});
