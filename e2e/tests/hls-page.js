// The hls.js page of the browser tests: hls.js from npm (an independent
// player) in a page served on loopback, window.play(url) to start a
// session and window.state() to watch it.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { once } from 'node:events';
import { waitFor } from './streams-media.js';

const HLSJS = resolve(import.meta.dirname, '../node_modules/hls.js/dist/hls.min.js');

// The hls.js page: play(url) attaches hls.js to the video element.
const HLS_PAGE = `<!doctype html><meta charset="utf-8"><title>hls.js</title>
<video id="v" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
window.errors = [];
window.play = (url) => {
  const v = document.getElementById('v');
  const hls = new Hls({ lowLatencyMode: false });
  hls.on(Hls.Events.ERROR, (_, d) => { if (d.fatal) window.errors.push(d.type + ': ' + d.details); });
  hls.loadSource(url);
  hls.attachMedia(v);
  hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch(() => {}));
  window.hls = hls;
};
window.state = () => {
  const v = document.getElementById('v');
  return { currentTime: v.currentTime, frames: v.getVideoPlaybackQuality().totalVideoFrames, width: v.videoWidth, ended: v.ended, duration: v.duration,
    live: window.hls && window.hls.levels[0] && window.hls.levels[0].details ? window.hls.levels[0].details.live : null, errors: window.errors };
};
</script>`;

// startHlsPages serves /hls.html and /hls.min.js on a loopback port.
export async function startHlsPages() {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/hls.html') res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(HLS_PAGE);
    else if (path === '/hls.min.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(readFileSync(HLSJS));
    else res.writeHead(404).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

// playing waits until a page's video decoded frames and played past t s.
export async function playing(page, state, t) {
  let last;
  try {
    return await waitFor(`playback past ${t} s`, async () => {
      last = await page.evaluate(state);
      if (last.errors?.length || last.error) throw new Error(JSON.stringify(last.errors || last.error));
      return last.frames > 0 && last.currentTime > t && last.width === 320 ? last : null;
    }, 25_000);
  } catch (err) {
    throw new Error(`${err.message}\nlast state: ${JSON.stringify(last)}\npage errors: ${page.errors.join('\n')}`);
  }
}
