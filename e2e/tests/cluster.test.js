// Cluster mode end to end: scripts/cluster.sh starts PostgreSQL, NATS,
// SeaweedFS and three real openkvs nodes on 127.0.0.1-3. A live producer
// (`ffmpeg -re | openkvs put-media`) sends to node 1; GetMedia and hls.js
// LIVE on node 2 see its fragments; `openkvs master` on node 3 is played
// by the official KVS WebRTC SDK viewer in Chromium on node 1. Then node 1
// is killed with SIGKILL mid-ingest: the producer moves on to node 2 and
// every fragment acknowledged PERSISTED is listed by node 3 and read back
// from it, frame by frame byte-identical to what ffmpeg produced.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KinesisVideoClient, CreateStreamCommand, CreateSignalingChannelCommand } from '@aws-sdk/client-kinesis-video';
import {
  KinesisVideoArchivedMediaClient, ListFragmentsCommand, GetHLSStreamingSessionURLCommand, GetMediaForFragmentListCommand,
} from '@aws-sdk/client-kinesis-video-archived-media';
import { BIN, CREDENTIALS } from './server.js';
import { startCluster, missing } from './cluster.js';
import { launch, startPages, viewerChannel } from './browser.js';
import { startHlsPages, playing } from './hls-page.js';
import { producerEnv, waitFor } from './streams-media.js';

const REGION = 'us-west-2';
const STREAM = 'cluster-cam';
const CHANNEL = 'cluster-door';
const skip = missing() || false; // '' would count as a skip
const X264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-keyint_min', '25', '-sc_threshold', '0', '-pix_fmt', 'yuv420p'];

let cluster;
let n1;
let n2;
let n3;
let tmp;
const procs = [];
let browser;
let sdkPages;
let hlsPages;

before(async () => {
  if (skip) return;
  tmp = mkdtempSync(join(tmpdir(), 'openkvs-e2e-cluster-test-'));
  cluster = await startCluster();
  [n1, n2, n3] = cluster.nodes;
  const kv = new KinesisVideoClient({ region: REGION, endpoint: n3.http, credentials: CREDENTIALS });
  await kv.send(new CreateStreamCommand({ StreamName: STREAM, DataRetentionInHours: 1 }));
  await new KinesisVideoClient({ region: REGION, endpoint: n2.http, credentials: CREDENTIALS })
    .send(new CreateSignalingChannelCommand({ ChannelName: CHANNEL }));
  [sdkPages, hlsPages] = await Promise.all([startPages(), startHlsPages()]);
  browser = await launch(n1); // the nodes share one certificate
});
after(async () => {
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await once(p, 'exit');
    }
  }
  await browser?.close();
  await sdkPages?.close();
  await hlsPages?.close();
  await cluster?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// run spawns one of our client commands (env: the test key) and keeps its
// output.
function run(args, { stdin = 'ignore' } = {}) {
  const p = spawn(BIN, args, { env: producerEnv(REGION), stdio: [stdin, 'pipe', 'pipe'] });
  p.out = '';
  p.stdout.on('data', (d) => { p.out += d; });
  p.stderr.on('data', (d) => { p.out += d; });
  procs.push(p);
  return p;
}

// persisted returns the fragment numbers put-media's --acks file holds as
// PERSISTED.
function persisted(file) {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l))
    .filter((a) => a.EventType === 'PERSISTED').map((a) => a.FragmentNumber);
}

// packetHashes lists the SHA-256 of every packet of an MKV file.
function packetHashes(file) {
  return execFileSync('ffprobe', ['-v', 'error', '-show_packets', '-show_data_hash', 'sha256', '-show_entries', 'packet=data_hash',
    '-of', 'csv=p=0', file], { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] }).toString().split('\n').filter(Boolean);
}

test('three nodes: ingest on 1, live on 2, WebRTC across 3 and 1, kill -9 of 1, every PERSISTED fragment on 3', { skip }, async (t) => {
  const media = new KinesisVideoArchivedMediaClient({ region: REGION, endpoint: n2.http, credentials: CREDENTIALS });

  // GetMedia on node 2 waits at the empty stream's start.
  const getMediaOut = join(tmp, 'getmedia.mkv');
  const getMedia = run(['get-media', '--stream', STREAM, '--start-selector', 'EARLIEST', '--fragments', '3', '--timeout', '60s',
    '--endpoint-url', n2.http, '--out', getMediaOut]);

  // The producer: ffmpeg's live output, kept in a file, into put-media on
  // node 1 (node 2 the endpoint to fail over to).
  const sourceFile = join(tmp, 'source.mkv');
  const acks = join(tmp, 'acks.jsonl');
  const ff = spawn('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', ...X264, '-f', 'matroska', '-'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(ff);
  const put = run(['put-media', '--stream', STREAM, '--quiet', '--endpoint-url', n1.http, '--failover-endpoint-url', n2.http,
    '--acks', acks, '-'], { stdin: 'pipe' });
  const source = createWriteStream(sourceFile);
  ff.stdout.on('data', (d) => { source.write(d); put.stdin.write(d); });
  ff.stdout.on('end', () => { source.end(); put.stdin.end(); });
  put.stdin.on('error', () => {});

  // The master on node 3.
  const master = run(['master', CHANNEL, '--endpoint-url', n3.https, '--region', REGION, '--ca-bundle', n3.caPath, '--loopback-only']);

  try {
    // GetMedia on node 2 got node 1's first fragments.
    await waitFor('GetMedia on node 2 to end after 3 fragments', () => getMedia.exitCode !== null, 40_000);
    assert.equal(getMedia.exitCode, 0, getMedia.out);
    const got = readFileSync(getMediaOut).toString('latin1');
    const numbers = [...got.matchAll(/AWS_KINESISVIDEO_FRAGMENT_NUMBER\D{0,8}(\d{20,})/g)].map((m) => m[1]);
    assert.equal(numbers.length, 3, 'GetMedia on node 2 wrote 3 fragments with their numbers');
    await waitFor('the acks of the fragments GetMedia returned', () => numbers.every((n) => persisted(acks).includes(n)), 5_000);

    // hls.js plays a LIVE session of node 2.
    const hls = await browser.page(`${hlsPages.url}/hls.html`);
    const url = (await media.send(new GetHLSStreamingSessionURLCommand({ StreamName: STREAM, PlaybackMode: 'LIVE', ContainerFormat: 'FRAGMENTED_MP4' })))
      .HLSStreamingSessionURL;
    assert.ok(url.startsWith(n2.http), `HLS session on node 2: ${url}`);
    await hls.evaluate((u) => window.play(u), url);
    const live = await playing(hls, () => window.state(), 1);
    assert.equal(live.live, true);

    // The official SDK viewer on node 1 plays the master on node 3.
    const viewer = await browser.page(`${sdkPages.url}/sdk-peer.html`);
    await viewer.evaluate((o) => window.sdkPeer.startViewer(o),
      await viewerChannel({ endpoint: n1.http, channel: CHANNEL, region: REGION, clientId: 'cluster-viewer' }));
    await waitFor('video from the master on node 3 in the viewer on node 1', async () => {
      const r = await viewer.evaluate(() => window.sdkPeer.received());
      return r.framesDecoded > 0 && r.totalVideoFrames > 0;
    }, 20_000).catch(async (err) => {
      throw new Error(`${err.message}\n${await viewer.evaluate(() => window.sdkPeer.log())}\nmaster:\n${master.out.slice(-3000)}`);
    });
    await viewer.close();
    await hls.close();

    // kill -9 node 1 while the producer sends to it.
    const before = persisted(acks).length;
    process.kill(n1.pid, 'SIGKILL');
    t.diagnostic(`node 1 killed after ${before} fragments PERSISTED`);
    await waitFor('PERSISTED acks from node 2', () => persisted(acks).length >= before + 3, 40_000).catch((err) => {
      throw new Error(`${err.message}\nput-media:\n${put.out.slice(-3000)}\nnode 2:\n${cluster.log('node2')}`);
    });
    ff.kill('SIGTERM'); // end of input: put-media flushes and exits
    const [code] = await once(put, 'exit');
    assert.equal(code, 0, `put-media: ${put.out.slice(-3000)}`);
  } catch (err) {
    err.message += `\nput-media:\n${put.out.slice(-2000)}`;
    throw err;
  }

  // Node 3 lists every PERSISTED fragment and returns each, its frames
  // byte for byte those ffmpeg produced.
  const acked = [...new Set(persisted(acks))];
  const archive = new KinesisVideoArchivedMediaClient({ region: REGION, endpoint: n3.http, credentials: CREDENTIALS });
  const now = Date.now();
  const listed = (await archive.send(new ListFragmentsCommand({
    StreamName: STREAM, MaxResults: 1000,
    FragmentSelector: { FragmentSelectorType: 'SERVER_TIMESTAMP', TimestampRange: { StartTimestamp: new Date(now - 600_000), EndTimestamp: new Date(now + 60_000) } },
  }))).Fragments.map((f) => f.FragmentNumber);
  for (const n of acked) assert.ok(listed.includes(n), `node 3 lists fragment ${n} acknowledged PERSISTED`);
  const out = await archive.send(new GetMediaForFragmentListCommand({ StreamName: STREAM, Fragments: acked }));
  const mkv = Buffer.from(await out.Payload.transformToByteArray());
  const fromNode3 = join(tmp, 'node3.mkv');
  writeFileSync(fromNode3, mkv);
  const numbers = [...mkv.toString('latin1').matchAll(/AWS_KINESISVIDEO_FRAGMENT_NUMBER\D{0,8}(\d{20,})/g)].map((m) => m[1]);
  assert.deepEqual(numbers.sort(), [...acked].sort(), 'node 3 returns exactly the PERSISTED fragments');
  const sent = new Set(packetHashes(sourceFile));
  const read = packetHashes(fromNode3);
  assert.ok(read.length >= acked.length * 20, `${read.length} frames read for ${acked.length} fragments`);
  for (const h of read) assert.ok(sent.has(h), `a frame read from node 3 (${h}) is not one ffmpeg produced`);
  t.diagnostic(`${acked.length} fragments PERSISTED (${read.length} frames) read back from node 3`);
});
