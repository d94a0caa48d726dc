// Stream playback in Debian's Chromium: hls.js (from npm, an independent
// player) and the console's /streams page (our own MSE player) play a LIVE
// session of a running producer (`ffmpeg -re ... | openkvs put-media -`)
// and an ON_DEMAND session of its archive; /streams also lists the
// fragments, downloads a clip and shows thumbnails.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  KinesisVideoArchivedMediaClient, GetHLSStreamingSessionURLCommand,
} from '@aws-sdk/client-kinesis-video-archived-media';
import { startServer, CREDENTIALS } from './server.js';
import { launch } from './browser.js';
import { startHlsPages, playing } from './hls-page.js';
import { REGION, liveProducer, recentFragments, waitFor } from './streams-media.js';

const STREAM = 'live-cam';
let srv;
let browser;
let pages;
let producer;
let media;

const fragments = () => recentFragments(media, STREAM);

before(async () => {
  srv = await startServer();
  media = new KinesisVideoArchivedMediaClient({ region: REGION, endpoint: srv.http, credentials: CREDENTIALS });
  producer = liveProducer(srv, STREAM);
  pages = await startHlsPages();
  browser = await launch(srv);
  // Enough archive for the ON_DEMAND sessions: five 1-s fragments.
  await waitFor('five fragments', async () => (await fragments()).length >= 5, 30_000).catch((err) => {
    throw new Error(`${err.message}\nproducer:\n${producer.log()}`);
  });
});
after(async () => {
  await producer?.stop();
  await browser?.close();
  await pages?.close();
  await srv?.stop();
});

async function sessionURL(mode) {
  const req = { StreamName: STREAM, PlaybackMode: mode, ContainerFormat: 'FRAGMENTED_MP4' };
  if (mode === 'ON_DEMAND') {
    const fs = await fragments();
    req.HLSFragmentSelector = { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: fs[0].ProducerTimestamp, EndTimestamp: fs[3].ProducerTimestamp } };
  }
  return (await media.send(new GetHLSStreamingSessionURLCommand(req))).HLSStreamingSessionURL;
}

test('Chromium can play the stream\'s codec through MSE', async () => {
  const page = await browser.page(`${pages.url}/hls.html`);
  assert.ok(await page.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="avc1.42c01e"')), 'H.264 in MSE');
  await page.close();
});

test('hls.js plays a LIVE session of the running producer', async () => {
  const page = await browser.page(`${pages.url}/hls.html`);
  await page.evaluate((u) => window.play(u), await sessionURL('LIVE'));
  const first = await playing(page, () => window.state(), 1);
  assert.equal(first.live, true, 'hls.js sees a live playlist');
  // Live playback keeps going as the producer sends fragments.
  await playing(page, () => window.state(), first.currentTime + 2);
  await page.close();
});

test('hls.js plays an ON_DEMAND session to its end', async () => {
  const page = await browser.page(`${pages.url}/hls.html`);
  await page.evaluate((u) => window.play(u), await sessionURL('ON_DEMAND'));
  const st = await playing(page, () => window.state(), 2);
  assert.equal(st.live, false);
  const end = await waitFor('the end of the video', async () => {
    const now = await page.evaluate(() => window.state());
    return now.ended ? now : null;
  });
  assert.ok(end.duration > 3.5 && end.duration < 4.5, `four 1-s fragments, got ${end.duration} s`);
  assert.ok(end.frames >= 95, `${end.frames} frames shown`);
  await page.close();
});

test('/streams plays LIVE and ON_DEMAND, lists fragments, downloads a clip and shows thumbnails', async () => {
  const page = await browser.page(`${srv.http}/streams`);
  assert.equal(await page.inputValue('#endpoint'), srv.http, 'endpoint defaults to the page origin');
  await page.fill('#region', REGION);
  await page.fill('#accessKeyId', CREDENTIALS.accessKeyId);
  await page.fill('#secretAccessKey', CREDENTIALS.secretAccessKey);
  await page.click('#list');
  await page.click(`#streams button[data-stream="${STREAM}"]`);
  await waitFor('the timeline', async () => (await page.evaluate(() => window.streamsPage.stats())).fragments >= 5);
  assert.ok(await page.locator('#timeline .frag').count() >= 5, 'fragments drawn on the timeline');
  const state = () => window.streamsPage.stats();

  await page.click('#play-live');
  const live = await playing(page, state, 1);
  assert.equal(live.live, true);
  await playing(page, state, live.currentTime + 2);
  await page.click('#stop');

  // The default range is the last minute of the timeline; play its
  // first four seconds.
  const fs = await fragments();
  await page.fill('#range-start', fs[0].ProducerTimestamp.toISOString());
  await page.fill('#range-end', fs[3].ProducerTimestamp.toISOString());
  await page.click('#play-range');
  const od = await playing(page, state, 2);
  assert.equal(od.live, false);
  const end = await waitFor('the end of the video', async () => {
    const now = await page.evaluate(state);
    return now.videoEnded ? now : null;
  });
  assert.equal(end.segments, 4);
  assert.ok(end.ended, 'the player loaded the whole playlist');
  assert.ok(end.currentTime > 3.5 && end.frames >= 95, JSON.stringify(end));

  await page.click('#clip');
  await page.locator('#clip-link:not([hidden])').waitFor();
  assert.ok(Number(await page.getAttribute('#clip-link', 'data-size')) > 10_000, 'a clip of four fragments');

  await page.click('#thumbs');
  await waitFor('thumbnails', async () => (await page.locator('#thumbnails img').count()) >= 3);
  const size = await page.evaluate(() => {
    const img = document.querySelector('#thumbnails img');
    return [img.naturalWidth, img.naturalHeight];
  });
  assert.deepEqual(size, [160, 120]);
  assert.deepEqual(page.errors, []);
  await page.close();
});
