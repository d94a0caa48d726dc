// The official @aws-sdk/client-kinesis-video-archived-media client against
// openkvs, endpoint changed and nothing else: ListFragments,
// GetHLSStreamingSessionURL, GetDASHStreamingSessionURL, GetClip and
// GetImages over a stream that `openkvs put-media` filled with 6 s of
// ffmpeg-made H.264; ffmpeg/ffprobe check what comes back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { KinesisVideoClient, GetDataEndpointCommand } from '@aws-sdk/client-kinesis-video';
import {
  KinesisVideoArchivedMediaClient, ListFragmentsCommand, GetHLSStreamingSessionURLCommand,
  GetDASHStreamingSessionURLCommand, GetClipCommand, GetImagesCommand,
} from '@aws-sdk/client-kinesis-video-archived-media';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startServer, CREDENTIALS } from './server.js';
import { REGION, makeClip, putFile } from './streams-media.js';
import { parseMaster, parseMedia } from '../../internal/console/static/streams-hls.js';

const STREAM = 'archived';
let srv;
let media; // the archived-media client on the stream's data endpoint
let frags; // the stream's fragments, by producer time

before(async () => {
  srv = await startServer();
  await putFile(srv, STREAM, makeClip(6));
  const kv = new KinesisVideoClient({ region: REGION, endpoint: srv.http, credentials: CREDENTIALS });
  const { DataEndpoint } = await kv.send(new GetDataEndpointCommand({ StreamName: STREAM, APIName: 'LIST_FRAGMENTS' }));
  media = new KinesisVideoArchivedMediaClient({
    region: REGION, endpoint: DataEndpoint, credentials: CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: srv.ca }) }),
  });
  const now = Date.now();
  const out = await media.send(new ListFragmentsCommand({
    StreamName: STREAM,
    FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: new Date(now - 3600_000), EndTimestamp: new Date(now + 60_000) } },
  }));
  frags = out.Fragments.sort((a, b) => a.ProducerTimestamp - b.ProducerTimestamp);
});
after(async () => {
  await srv?.stop();
});

function range(from = 0, to = frags.length - 1) {
  return { StartTimestamp: frags[from].ProducerTimestamp, EndTimestamp: frags[to].ProducerTimestamp };
}

// frameCount decodes url (or stdin) with ffmpeg and counts the video frames.
function frameCount(input, data) {
  const out = execFileSync('ffmpeg', ['-v', 'error', '-i', input, '-map', '0:v', '-f', 'framecrc', '-'], { input: data, maxBuffer: 64 << 20 });
  return out.toString().split('\n').filter((l) => /^\d+,/.test(l)).length;
}

test('ListFragments pages through the fragments of put-media', async () => {
  assert.equal(frags.length, 6, 'one fragment per key frame a second');
  for (const f of frags) {
    assert.match(f.FragmentNumber, /^\d+$/);
    assert.ok(f.FragmentSizeInBytes > 0 && f.FragmentLengthInMilliseconds >= 900, JSON.stringify(f));
    assert.ok(f.ServerTimestamp instanceof Date && f.ProducerTimestamp instanceof Date);
  }
  const seen = [];
  let NextToken;
  do {
    const out = await media.send(new ListFragmentsCommand(NextToken ? { StreamName: STREAM, NextToken, MaxResults: 4 } : {
      StreamName: STREAM, MaxResults: 4, FragmentSelector: { FragmentSelectorType: 'SERVER_TIMESTAMP', TimestampRange: { StartTimestamp: new Date(0), EndTimestamp: new Date(Date.now() + 60_000) } },
    }));
    assert.ok(out.Fragments.length <= 4);
    seen.push(...out.Fragments.map((f) => f.FragmentNumber));
    ({ NextToken } = out);
  } while (NextToken);
  assert.deepEqual(seen.sort(), frags.map((f) => f.FragmentNumber).sort());
});

test('GetHLSStreamingSessionURL: ffmpeg plays an ON_DEMAND session to the end', async () => {
  const { HLSStreamingSessionURL: url } = await media.send(new GetHLSStreamingSessionURLCommand({
    StreamName: STREAM, PlaybackMode: 'ON_DEMAND', ContainerFormat: 'FRAGMENTED_MP4',
    HLSFragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: range() },
  }));
  assert.match(url, /\/hls\/v1\/getHLSMasterPlaylist\.m3u8\?SessionToken=/);
  const master = await (await fetch(url)).text();
  assert.match(master, /#EXT-X-STREAM-INF:.*CODECS="avc1\.[0-9a-fA-F]{6}".*RESOLUTION=320x240/);
  // The /streams page's playlist parsers read the same session.
  const variant = parseMaster(master, url);
  assert.match(variant.codecs, /^avc1\./);
  const pl = parseMedia(await (await fetch(variant.uri)).text(), variant.uri);
  assert.equal(pl.endList, true);
  assert.equal(pl.segments.length, 6);
  assert.ok(pl.segments.every((seg, i) => seg.seq === pl.mediaSequence + i && seg.duration > 0.9 && seg.map && new URL(seg.uri).searchParams.get('FragmentNumber') === frags[i].FragmentNumber));
  assert.equal(frameCount(url), 150, 'every frame of the 6 fragments');
});

test('GetDASHStreamingSessionURL: ffmpeg plays the ON_DEMAND manifest', async () => {
  const { DASHStreamingSessionURL: url } = await media.send(new GetDASHStreamingSessionURLCommand({
    StreamName: STREAM, PlaybackMode: 'ON_DEMAND',
    DASHFragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: range(0, 2) },
  }));
  assert.match(url, /\/dash\/v1\/getDASHManifest\.mpd\?SessionToken=/);
  assert.equal(frameCount(url), 75, 'the frames of fragments 0-2');
});

test('GetClip: an MP4 of the range that ffprobe reads', async () => {
  const out = await media.send(new GetClipCommand({
    StreamName: STREAM, ClipFragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: range(1, 3) },
  }));
  assert.equal(out.ContentType, 'video/mp4');
  const mp4 = Buffer.from(await out.Payload.transformToByteArray());
  assert.equal(mp4.subarray(4, 8).toString(), 'ftyp');
  assert.equal(frameCount('pipe:0', mp4), 75, 'fragments 1-3');
});

test('GetImages: JPEG and PNG thumbnails, pages, NO_MEDIA past the end', async () => {
  const start = frags[0].ProducerTimestamp;
  const last = frags[frags.length - 1];
  const end = new Date(last.ProducerTimestamp.getTime() + last.FragmentLengthInMilliseconds + 2000);
  const images = [];
  let NextToken;
  do {
    const out = await media.send(new GetImagesCommand({
      StreamName: STREAM, ImageSelectorType: 'PRODUCER_TIMESTAMP', StartTimestamp: start, EndTimestamp: end,
      SamplingInterval: 500, Format: 'JPEG', FormatConfig: { JPEGQuality: '90' }, WidthPixels: 160, MaxResults: 5, NextToken,
    }));
    assert.ok(out.Images.length <= 5);
    images.push(...out.Images);
    ({ NextToken } = out);
  } while (NextToken);
  assert.equal(images.length, Math.floor((end - start) / 500) + 1);
  images.forEach((img, i) => assert.equal(img.TimeStamp.getTime(), start.getTime() + 500 * i));
  const ok = images.filter((img) => img.ImageContent);
  assert.ok(ok.length >= 12, `${ok.length} images`);
  assert.ok(images.slice(-3).every((img) => img.Error === 'NO_MEDIA' && !img.ImageContent), 'the last second has no media');
  const probe = (b64) => execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', '-i', 'pipe:0'], { input: Buffer.from(b64, 'base64') }).toString().trim();
  assert.equal(probe(ok[0].ImageContent), 'mjpeg,160,120');
  const png = await media.send(new GetImagesCommand({
    StreamName: STREAM, ImageSelectorType: 'SERVER_TIMESTAMP', StartTimestamp: frags[2].ServerTimestamp, EndTimestamp: frags[2].ServerTimestamp, Format: 'PNG',
  }));
  assert.equal(png.Images.length, 1);
  assert.equal(probe(png.Images[0].ImageContent), 'png,320,240');
  await assert.rejects(media.send(new GetImagesCommand({
    StreamName: STREAM, ImageSelectorType: 'PRODUCER_TIMESTAMP', StartTimestamp: start, EndTimestamp: new Date(start.getTime() + 301_000), Format: 'JPEG',
  })), { name: 'InvalidArgumentException' });
  await assert.rejects(media.send(new GetImagesCommand({
    StreamName: 'nope', ImageSelectorType: 'PRODUCER_TIMESTAMP', StartTimestamp: start, EndTimestamp: end, Format: 'JPEG',
  })), { name: 'ResourceNotFoundException' });
});
