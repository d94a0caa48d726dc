// Independent players against LIVE and ON_DEMAND sessions of a running
// producer (`ffmpeg -re ... | openkvs put-media -`): GStreamer's playbin
// (HLS fMP4 and MPEG-TS, DASH; rendering in real time to a fakesink with
// sync=true)
// and ffmpeg (HLS and DASH LIVE, counting the 404s the server answers).
// hls.js plays the same sessions in streams-browser.test.js. Every player
// talks to the server on loopback only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import {
  KinesisVideoArchivedMediaClient, GetHLSStreamingSessionURLCommand, GetDASHStreamingSessionURLCommand,
} from '@aws-sdk/client-kinesis-video-archived-media';
import { startServer, CREDENTIALS } from './server.js';
import { REGION, liveProducer, recentFragments, waitFor } from './streams-media.js';

const STREAM = 'players';
const hasGst = spawnSync('gst-launch-1.0', ['--version']).status === 0;
const noGst = !hasGst && 'gst-launch-1.0 is not installed (scripts/deps.sh installs GStreamer)';

let srv;
let producer;
let media;

const fragments = () => recentFragments(media, STREAM);

before(async () => {
  srv = await startServer();
  media = new KinesisVideoArchivedMediaClient({ region: REGION, endpoint: srv.http, credentials: CREDENTIALS });
  producer = liveProducer(srv, STREAM);
  // Three 1-s fragments for the ON_DEMAND sessions, and a live window.
  await waitFor('four fragments', async () => (await fragments()).length >= 4, 30_000).catch((err) => {
    throw new Error(`${err.message}\nproducer:\n${producer.log()}`);
  });
});
after(async () => {
  await producer?.stop();
  await srv?.stop();
});

// sessionURL returns an HLS (fMP4) or DASH session URL; ON_DEMAND covers
// the first three fragments (ending at the fourth's start).
async function sessionURL(kind, mode, extra = {}) {
  const req = { StreamName: STREAM, PlaybackMode: mode, ...extra };
  let selector;
  if (mode === 'ON_DEMAND') {
    const fs = await fragments();
    selector = { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: fs[0].ProducerTimestamp, EndTimestamp: new Date(fs[3].ProducerTimestamp - 1) } };
  }
  if (kind === 'HLS') {
    return (await media.send(new GetHLSStreamingSessionURLCommand({ ContainerFormat: 'FRAGMENTED_MP4', ...req, HLSFragmentSelector: selector }))).HLSStreamingSessionURL;
  }
  return (await media.send(new GetDASHStreamingSessionURLCommand({ ...req, DASHFragmentSelector: selector }))).DASHStreamingSessionURL;
}

// gstPlay runs `gst-launch-1.0 playbin` on url with a fakesink that renders
// in real time (sync=true) and counts the video frames it renders. It
// resolves when frames have been rendered (then stops GStreamer) or when
// GStreamer exits (end of stream), or after timeout ms.
function gstPlay(url, { frames = Infinity, timeout = 20_000 } = {}) {
  const started = Date.now();
  const p = spawn('gst-launch-1.0', ['-v', 'playbin', `uri=${url}`, 'video-sink=fakesink sync=true silent=false', 'audio-sink=fakesink sync=true'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, GST_DEBUG: '0' } });
  let rendered = 0;
  let pts = [];
  let log = '';
  let rest = '';
  return new Promise((resolve) => {
    const done = (how) => {
      clearTimeout(timer);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      resolve({ how, frames: rendered, pts, seconds: (Date.now() - started) / 1000, code: p.exitCode, log: log.slice(-3000) });
    };
    const timer = setTimeout(() => done('timeout'), timeout);
    p.stdout.on('data', (d) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop();
      for (const l of lines) {
        const m = l.match(/fakesink\d+: last-message = chain .*pts: (\d+):(\d+):([\d.]+)/);
        if (m && l.includes('115200 bytes')) { // a 320x240 I420 video frame
          rendered++;
          pts.push(Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]));
          if (rendered >= frames) done('frames');
        } else if (!l.includes('last-message')) {
          log += l + '\n';
        }
      }
      if (pts.length > 2) pts = [pts[0], pts[pts.length - 1]];
    });
    p.stderr.on('data', (d) => { log += d; });
    p.on('exit', () => setImmediate(() => done('exit')));
  });
}

// VLC resets its demuxer at every discontinuity: an fMP4 playlist must name
// the initialization section again before the next segment.
function checkMapAfterDiscontinuity(playlist) {
  let needMap = false;
  for (const line of playlist.split('\n')) {
    if (line === '#EXT-X-DISCONTINUITY') needMap = true;
    else if (line.startsWith('#EXT-X-MAP:')) needMap = false;
    else if (line && !line.startsWith('#')) assert.ok(!needMap, `segment ${line} follows a discontinuity without EXT-X-MAP:\n${playlist}`);
  }
}

test('a LIVE fMP4 playlist is VLC-shaped: EXT-X-MAP after every EXT-X-DISCONTINUITY', async () => {
  // Server timestamps: DiscontinuityMode defaults to ALWAYS.
  const url = await sessionURL('HLS', 'LIVE');
  const master = await (await fetch(url)).text();
  const mediaURL = new URL(master.trim().split('\n').pop(), url);
  const pl = await (await fetch(mediaURL)).text();
  assert.ok((pl.match(/#EXT-X-DISCONTINUITY\n/g) || []).length >= 2, pl);
  checkMapAfterDiscontinuity(pl);
});

test('GStreamer playbin plays HLS (fMP4, MPEG-TS) and DASH, LIVE and ON_DEMAND, in real time', { skip: noGst }, async () => {
  const [hlsLive, dashLive, tsLive, hlsOD, dashOD] = await Promise.all([
    sessionURL('HLS', 'LIVE'), sessionURL('DASH', 'LIVE'), sessionURL('HLS', 'LIVE', { ContainerFormat: 'MPEG_TS' }),
    sessionURL('HLS', 'ON_DEMAND'), sessionURL('DASH', 'ON_DEMAND'),
  ]);
  // A few at a time: the machine running the suite may have two cores.
  // MPEG-TS keeps producer-time PTS (modulo 2^33), which GStreamer maps.
  const live = await Promise.all([gstPlay(hlsLive, { frames: 50 }), gstPlay(dashLive, { frames: 50 }), gstPlay(tsLive, { frames: 50 })]);
  const od = await Promise.all([gstPlay(hlsOD), gstPlay(dashOD)]);
  for (const [name, r] of [['HLS LIVE', live[0]], ['DASH LIVE', live[1]], ['HLS MPEG-TS LIVE', live[2]]]) {
    // Two seconds of video rendered against the clock: media times that
    // count from 1970 left the sink waiting for decades.
    assert.equal(r.how, 'frames', `${name}: ${r.frames} frames in ${r.seconds} s (${r.how}, exit ${r.code})\n${r.log}`);
  }
  for (const [name, r] of [['HLS ON_DEMAND', od[0]], ['DASH ON_DEMAND', od[1]]]) {
    assert.equal(r.how, 'exit', `${name}: ${r.frames} frames, ${r.how}\n${r.log}`);
    assert.equal(r.code, 0, `${name}: exit ${r.code}\n${r.log}`);
    assert.equal(r.frames, 75, `${name}: three 1-s fragments at 25 fps, ${r.frames} frames\n${r.log}`);
    // Real time: three seconds of media take about three seconds.
    assert.ok(r.seconds > 2.5, `${name}: played in ${r.seconds} s`);
    assert.ok(r.pts[0] < 1, `${name}: first frame at ${r.pts[0]} s of media time`);
  }
});

// segmentAnswers returns the count of GetMP4MediaFragment answers by
// HTTP status, from the server's metrics.
async function segmentAnswers() {
  const text = await (await fetch(`${srv.http}/metrics`)).text();
  const out = {};
  for (const m of text.matchAll(/^openkvs_requests_total\{code="(\d+)",operation="GetMP4MediaFragment"\} (\d+)/gm)) out[m[1]] = Number(m[2]);
  return out;
}

// ffmpegFrames decodes url's video until frames frames came out (or 30 s
// passed). It runs ffmpeg asynchronously: the live producer is piped
// through this process.
async function ffmpegFrames(url, frames) {
  const p = spawn('ffmpeg', ['-v', 'error', '-i', url, '-map', '0:v', '-frames:v', String(frames), '-f', 'framecrc', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => { out += d; });
  p.stderr.on('data', (d) => { err += d; });
  const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
  const [status] = await once(p, 'exit');
  clearTimeout(timer);
  return { count: out.split('\n').filter((l) => /^\d+,/.test(l)).length, stderr: err.slice(-2000), status };
}

test('ffmpeg plays HLS fMP4 LIVE past the live edge', async () => {
  // Five fragments in the window: 100 frames needs fragments that arrive
  // while ffmpeg plays.
  const r = await ffmpegFrames(await sessionURL('HLS', 'LIVE'), 100);
  assert.equal(r.count, 100, `${r.count} frames, exit ${r.status}: ${r.stderr}`);
});

test('ffmpeg plays DASH LIVE past the live edge with (almost) no 404s', async () => {
  // Two fragments in the manifest: 125 frames take three seconds of live
  // fragments.
  const url = await sessionURL('DASH', 'LIVE', { MaxManifestFragmentResults: 2 });
  const before = await segmentAnswers();
  const r = await ffmpegFrames(url, 125);
  const after = await segmentAnswers();
  assert.equal(r.count, 125, `${r.count} frames, exit ${r.status}: ${r.stderr}`);
  const notFound = (after['404'] || 0) - (before['404'] || 0);
  const ok = (after['200'] || 0) - (before['200'] || 0);
  // Announcing segments from producer time made ffmpeg ask before the
  // server had them, thousands of times a second.
  assert.ok(notFound <= 2, `${notFound} segment requests answered 404 (${ok} answered 200)`);
  assert.ok(ok >= 4, `${ok} segments served`);
});
