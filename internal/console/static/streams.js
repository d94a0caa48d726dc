// The /streams page: lists the server's video streams and, for the chosen
// one, plays it live or over a time range (HLS, fragmented MP4, through
// streams-hls.js), shows a timeline of its fragments of the last hour,
// downloads clips (GetClip) and shows thumbnails (GetImages). Every request
// is a KVS API call signed in the browser.

import { call, KVSError } from './kvs.js';
import { signRequest } from './sigv4.js';
import { HLSPlayer } from './streams-hls.js';

const $ = (id) => document.getElementById(id);
const FIELDS = ['endpoint', 'region', 'accessKeyId', 'sessionToken'];
const HOUR = 3600_000;
const MAX_IMAGES_RANGE = 300_000;

let current = null; // the selected stream's name
let player = null;
let fragments = []; // [{ start, end, number }] in ms, by producer time

function log(msg) {
  const line = `${new Date().toISOString().slice(11, 23)} ${msg}\n`;
  $('log').textContent += line;
  $('log').scrollTop = $('log').scrollHeight;
}

function setStatus(state, text = state) {
  $('status').dataset.state = state;
  $('status').textContent = text;
}

function prefill() {
  const q = new URLSearchParams(location.search);
  for (const f of FIELDS) if (q.has(f)) $(f).value = q.get(f);
  if (!$('endpoint').value) $('endpoint').value = location.origin;
}

function auth() {
  const credentials = { accessKeyId: $('accessKeyId').value.trim(), secretAccessKey: $('secretAccessKey').value };
  if ($('sessionToken').value.trim()) credentials.sessionToken = $('sessionToken').value.trim();
  return { endpoint: $('endpoint').value.trim() || location.origin, region: $('region').value.trim(), credentials };
}

// api calls one KVS JSON operation. openkvs serves every API (control
// plane and data plane) on one endpoint, which GetDataEndpoint returns.
function api(path, body) {
  return call({ ...auth(), path, body });
}

// binary calls an operation whose answer is a file (GetClip).
async function binary(path, body) {
  const { endpoint, region, credentials } = auth();
  const url = endpoint.replace(/\/+$/, '') + path;
  const json = JSON.stringify(body);
  const headers = await signRequest({ method: 'POST', url, headers: { 'Content-Type': 'application/json' }, body: json, region, credentials });
  const res = await fetch(url, { method: 'POST', headers, body: json });
  if (!res.ok) {
    const text = await res.text();
    let out = {};
    try { out = JSON.parse(text); } catch { /* reported as text */ }
    throw new KVSError((res.headers.get('x-amzn-ErrorType') || out.__type || 'Error').split(':')[0], res.status, out.message || out.Message || text.slice(0, 200));
  }
  return res.blob();
}

function fail(what, err) {
  log(`${what}: ${err.message}`);
  setStatus('error', err instanceof KVSError ? err.type : 'error');
}

async function listStreams() {
  setStatus('loading');
  const list = [];
  let token;
  do {
    const out = await api('/listStreams', token ? { MaxResults: 100, NextToken: token } : { MaxResults: 100 });
    list.push(...(out.StreamInfoList || []));
    token = out.NextToken;
  } while (token);
  const ul = $('streams');
  ul.replaceChildren();
  for (const s of list) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.dataset.stream = s.StreamName;
    b.textContent = `${s.StreamName} · ${s.Status} · ${s.DataRetentionInHours} h`;
    b.addEventListener('click', () => select(s.StreamName).catch((err) => fail('select', err)));
    li.append(b);
    ul.append(li);
  }
  log(`${list.length} streams`);
  setStatus('connected', `${list.length} streams`);
}

async function select(name) {
  stop();
  current = name;
  for (const b of $('streams').querySelectorAll('button')) b.setAttribute('aria-pressed', String(b.dataset.stream === name));
  $('stream-name').textContent = name;
  for (const id of ['play-live', 'play-range', 'refresh', 'clip', 'thumbs']) $(id).disabled = false;
  $('range-start').value = '';
  $('range-end').value = '';
  $('thumbnails').replaceChildren();
  $('clip-link').hidden = true;
  await refreshTimeline();
}

const seconds = (ms) => ms / 1000;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// refreshTimeline lists the fragments of the last hour (ListFragments,
// every page) and draws them.
async function refreshTimeline() {
  const now = Date.now();
  const from = now - HOUR;
  const out = [];
  let token;
  do {
    const body = token ? { StreamName: current, NextToken: token } : {
      StreamName: current, MaxResults: 1000,
      FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: seconds(from), EndTimestamp: seconds(now + 60_000) } },
    };
    const page = await api('/listFragments', body);
    for (const f of page.Fragments || []) {
      const start = f.ProducerTimestamp * 1000;
      out.push({ start, end: start + f.FragmentLengthInMilliseconds, number: f.FragmentNumber });
    }
    token = page.NextToken;
  } while (token && out.length < 20_000);
  fragments = out.sort((a, b) => a.start - b.start);
  $('stat-fragments').textContent = String(fragments.length);
  if (fragments.length && !$('range-start').value) {
    const end = fragments[fragments.length - 1].end;
    setRange(Math.max(fragments[0].start, end - 60_000), end);
  }
  drawTimeline(from, now);
}

function setRange(start, end) {
  $('range-start').value = iso(start);
  $('range-end').value = iso(Math.ceil(end / 1000) * 1000);
  drawTimeline();
}

let shown = [0, 1];

function drawTimeline(from = shown[0], to = shown[1]) {
  shown = [from, to];
  const tl = $('timeline');
  const pct = (t) => `${(100 * (t - from)) / (to - from)}%`;
  const bars = fragments.map((f) => {
    const d = document.createElement('span');
    d.className = 'frag';
    d.style.left = pct(f.start);
    d.style.width = `${(100 * (f.end - f.start)) / (to - from)}%`;
    d.title = `${f.number} ${iso(f.start)}`;
    return d;
  });
  const [s, e] = range(false);
  if (s && e) {
    const sel = document.createElement('span');
    sel.className = 'sel';
    sel.style.left = pct(s);
    sel.style.width = `${(100 * (e - s)) / (to - from)}%`;
    bars.push(sel);
  }
  const label = $('timeline-label');
  label.textContent = `${iso(from)} – ${iso(to)} · ${fragments.length} fragments`;
  tl.replaceChildren(...bars, label);
}

// A click on the timeline selects the minute that starts there.
function timelineClick(ev) {
  const r = $('timeline').getBoundingClientRect();
  const t = shown[0] + ((ev.clientX - r.left) / r.width) * (shown[1] - shown[0]);
  setRange(t, t + 60_000);
}

// range returns the chosen [start, end] in ms.
function range(strict = true) {
  const s = Date.parse($('range-start').value);
  const e = Date.parse($('range-end').value);
  if (strict && (Number.isNaN(s) || Number.isNaN(e) || e <= s)) throw new Error('choose a time range (From before To, as ISO 8601 UTC times)');
  return [s, e];
}

function selector(type, [start, end]) {
  return { FragmentSelectorType: type, TimestampRange: { StartTimestamp: seconds(start), EndTimestamp: seconds(end) } };
}

async function play(mode) {
  stop();
  const body = { StreamName: current, PlaybackMode: mode, ContainerFormat: 'FRAGMENTED_MP4', Expires: 3600 };
  if (mode === 'ON_DEMAND') body.HLSFragmentSelector = selector('PRODUCER_TIMESTAMP', range());
  const { HLSStreamingSessionURL: url } = await api('/getHLSStreamingSessionURL', body);
  log(`${mode} session for ${current}`);
  $('stat-mode').textContent = mode;
  player = new HLSPlayer($('video'), { log });
  $('stop').disabled = false;
  await player.play(url);
}

function stop() {
  if (!player) return;
  player.stop();
  player = null;
  $('stop').disabled = true;
  $('stat-mode').textContent = '–';
}

async function downloadClip() {
  const r = range();
  log(`GetClip ${iso(r[0])} – ${iso(r[1])}`);
  const blob = await binary('/getClip', { StreamName: current, ClipFragmentSelector: selector('PRODUCER_TIMESTAMP', r) });
  const a = $('clip-link');
  if (a.href) URL.revokeObjectURL(a.href);
  a.href = URL.createObjectURL(blob);
  a.download = `${current}-${iso(r[0]).replace(/:/g, '')}.mp4`;
  a.textContent = `${a.download} (${blob.size} bytes)`;
  a.dataset.size = String(blob.size);
  a.hidden = false;
  log(`clip of ${blob.size} bytes`);
}

// thumbnails shows about a dozen images over the range (GetImages allows
// 300 s at most: a longer range is cut).
async function thumbnails() {
  let [start, end] = range();
  end = Math.min(end, start + MAX_IMAGES_RANGE);
  const interval = Math.max(200, Math.ceil((end - start) / 12));
  const box = $('thumbnails');
  box.replaceChildren();
  let token;
  let n = 0;
  do {
    const body = {
      StreamName: current, ImageSelectorType: 'PRODUCER_TIMESTAMP', StartTimestamp: seconds(start), EndTimestamp: seconds(end),
      SamplingInterval: interval, Format: 'JPEG', WidthPixels: 160, MaxResults: 25,
    };
    if (token) body.NextToken = token;
    const out = await api('/getImages', body);
    for (const img of out.Images || []) {
      const fig = document.createElement('figure');
      const cap = document.createElement('figcaption');
      cap.textContent = iso(img.TimeStamp * 1000).slice(11);
      if (img.ImageContent) {
        const el = document.createElement('img');
        el.src = `data:image/jpeg;base64,${img.ImageContent}`;
        el.alt = `frame at ${iso(img.TimeStamp * 1000)}`;
        fig.append(el);
        n++;
      } else {
        const el = document.createElement('div');
        el.className = 'missing';
        el.textContent = img.Error || 'no image';
        fig.append(el);
      }
      fig.append(cap);
      box.append(fig);
    }
    token = out.NextToken;
  } while (token);
  log(`${n} thumbnails`);
}

function updateStats() {
  const v = $('video');
  $('stat-time').textContent = v.currentTime.toFixed(2);
  $('stat-frames').textContent = String(v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality().totalVideoFrames : 0);
  if (player) {
    $('stat-segments').textContent = String(player.stats.segments);
    $('stat-bytes').textContent = String(player.stats.bytes);
  }
}

function on(id, what, fn) {
  $(id).addEventListener('click', () => fn().catch((err) => fail(what, err)));
}

prefill();
$('settings').addEventListener('submit', (ev) => {
  ev.preventDefault();
  listStreams().catch((err) => fail('ListStreams', err));
});
on('play-live', 'LIVE', () => play('LIVE'));
on('play-range', 'ON_DEMAND', () => play('ON_DEMAND'));
on('refresh', 'ListFragments', refreshTimeline);
on('clip', 'GetClip', downloadClip);
on('thumbs', 'GetImages', thumbnails);
$('stop').addEventListener('click', stop);
$('timeline').addEventListener('click', timelineClick);
for (const id of ['range-start', 'range-end']) $(id).addEventListener('change', () => drawTimeline());
setInterval(updateStats, 250);

// For tests and the curious: the player's state.
window.streamsPage = {
  stats() {
    const v = $('video');
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
    return {
      ...(player ? player.stats : {}), currentTime: v.currentTime, frames: q.totalVideoFrames || 0,
      width: v.videoWidth, videoEnded: v.ended, fragments: fragments.length, log: $('log').textContent,
    };
  },
};
