// A small HLS player for fragmented-MP4 sessions (RFC 8216): it reads the
// master and media playlists of a KVS HLS session, and feeds the init
// segment (EXT-X-MAP) and the media segments to a Media Source Extensions
// SourceBuffer. A LIVE (or LIVE_REPLAY) playlist is polled for new
// segments; an ON_DEMAND one (EXT-X-ENDLIST) is played to its end.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Parses the attribute list of an HLS tag (RFC 8216 §4.2). */
export function parseAttributes(s) {
  const out = {};
  for (const m of s.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) out[m[1]] = m[2].replace(/^"|"$/g, '');
  return out;
}

/** Returns the first variant of a master playlist: { uri, codecs, resolution }. */
export function parseMaster(text, base) {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error('not an HLS playlist');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('#EXT-X-STREAM-INF:')) continue;
    const attrs = parseAttributes(lines[i].slice(18));
    const uri = lines.slice(i + 1).find((l) => l && !l.startsWith('#'));
    if (!uri) break;
    return { uri: new URL(uri, base).href, codecs: attrs.CODECS || '', resolution: attrs.RESOLUTION || '' };
  }
  throw new Error('the master playlist has no variant stream');
}

/**
 * Parses a media playlist: { mediaSequence, targetDuration, endList,
 * segments: [{ seq, uri, map, duration, discontinuity, date }] }.
 */
export function parseMedia(text, base) {
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  if (lines[0] !== '#EXTM3U') throw new Error('not an HLS playlist');
  const pl = { mediaSequence: 0, targetDuration: 1, endList: false, segments: [] };
  let map = null;
  let next = {};
  for (const l of lines.slice(1)) {
    if (!l) continue;
    if (l.startsWith('#EXT-X-MEDIA-SEQUENCE:')) pl.mediaSequence = Number(l.slice(22));
    else if (l.startsWith('#EXT-X-TARGETDURATION:')) pl.targetDuration = Number(l.slice(22));
    else if (l === '#EXT-X-ENDLIST') pl.endList = true;
    else if (l.startsWith('#EXT-X-MAP:')) map = new URL(parseAttributes(l.slice(11)).URI, base).href;
    else if (l === '#EXT-X-DISCONTINUITY') next.discontinuity = true;
    else if (l.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) next.date = new Date(l.slice(25));
    else if (l.startsWith('#EXTINF:')) next.duration = parseFloat(l.slice(8));
    else if (!l.startsWith('#')) {
      pl.segments.push({ seq: pl.mediaSequence + pl.segments.length, uri: new URL(l, base).href, map, ...next });
      next = {};
    }
  }
  return pl;
}

/** HLSPlayer plays one HLS session in a <video> element. */
export class HLSPlayer {
  /**
   * @param {HTMLVideoElement} video
   * @param {{log?: (msg: string) => void, onSegment?: (seg: object) => void}} [opts]
   */
  constructor(video, { log = () => {}, onSegment = () => {} } = {}) {
    this.video = video;
    this.log = log;
    this.onSegment = onSegment;
    this.stopped = false;
    this.stats = { segments: 0, bytes: 0, live: false, ended: false, error: '' };
  }

  /** Starts playing the session whose master playlist is at url. */
  async play(url) {
    const master = parseMaster(await this.text(url), url);
    const mime = `video/mp4; codecs="${master.codecs}"`;
    if (!MediaSource.isTypeSupported(mime)) throw new Error(`this browser cannot play ${mime}`);
    this.log(`variant ${master.resolution || '?'} ${master.codecs}`);
    this.mediaURL = master.uri;
    this.ms = new MediaSource();
    this.video.src = URL.createObjectURL(this.ms);
    await new Promise((r) => this.ms.addEventListener('sourceopen', r, { once: true }));
    this.sb = this.ms.addSourceBuffer(mime);
    // KVS segments carry absolute producer times; play them back to back.
    this.sb.mode = 'sequence';
    this.done = this.run().catch((err) => {
      if (this.stopped) return;
      this.stats.error = err.message;
      this.log(`player: ${err.message}`);
    });
  }

  /** Stops fetching and detaches the media. */
  stop() {
    this.stopped = true;
    this.video.pause();
    this.video.removeAttribute('src');
    this.video.load();
  }

  async text(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${res.status} from ${new URL(url).pathname}: ${(await res.text()).slice(0, 200)}`);
    return res.text();
  }

  async bytes(url) {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`${res.status} from ${new URL(url).pathname}: ${(await res.text()).slice(0, 200)}`);
    return res.arrayBuffer();
  }

  async append(buf) {
    if (this.sb.updating) await new Promise((r) => this.sb.addEventListener('updateend', r, { once: true }));
    await new Promise((resolve, reject) => {
      const done = () => {
        this.sb.removeEventListener('error', failed);
        resolve();
      };
      const failed = () => {
        this.sb.removeEventListener('updateend', done);
        reject(new Error('the SourceBuffer refused a segment'));
      };
      this.sb.addEventListener('updateend', done, { once: true });
      this.sb.addEventListener('error', failed, { once: true });
      this.sb.appendBuffer(buf);
    });
  }

  // ahead is how many seconds are buffered past the playhead.
  ahead() {
    const b = this.video.buffered;
    return b.length ? b.end(b.length - 1) - this.video.currentTime : 0;
  }

  // kick starts playback once there is media, and keeps a live session
  // near its newest segment.
  kick(target) {
    const b = this.video.buffered;
    if (!b.length) return;
    const v = this.video;
    if (v.currentTime < b.start(0)) v.currentTime = b.start(0);
    if (this.stats.live && b.end(b.length - 1) - v.currentTime > 4 * target) v.currentTime = b.end(b.length - 1) - target;
    if (v.paused) v.play().catch(() => { /* autoplay refused: the controls remain */ });
  }

  // trim drops media more than a minute behind the playhead.
  async trim() {
    const b = this.video.buffered;
    if (!b.length || this.video.currentTime - b.start(0) < 90) return;
    if (this.sb.updating) await new Promise((r) => this.sb.addEventListener('updateend', r, { once: true }));
    this.sb.remove(0, this.video.currentTime - 60);
    await new Promise((r) => this.sb.addEventListener('updateend', r, { once: true }));
  }

  async run() {
    let next;
    let map = null;
    for (;;) {
      const pl = parseMedia(await this.text(this.mediaURL), this.mediaURL);
      if (this.stopped) return;
      this.stats.live = !pl.endList;
      const last = pl.mediaSequence + pl.segments.length;
      // A live session starts three segments from its newest, or where
      // the playlist now starts if it moved past us.
      if (next === undefined) next = pl.endList ? pl.mediaSequence : Math.max(pl.mediaSequence, last - 3);
      if (next < pl.mediaSequence) next = pl.mediaSequence;
      for (const seg of pl.segments) {
        if (seg.seq < next) continue;
        while (pl.endList && this.ahead() > 30 && !this.stopped) await sleep(500);
        if (this.stopped) return;
        if (seg.map && seg.map !== map) {
          await this.append(await this.bytes(seg.map));
          map = seg.map;
        }
        const buf = await this.bytes(seg.uri);
        if (this.stopped) return;
        await this.append(buf);
        next = seg.seq + 1;
        this.stats.segments++;
        this.stats.bytes += buf.byteLength;
        this.onSegment(seg);
        this.kick(pl.targetDuration);
        await this.trim();
      }
      if (pl.endList) {
        this.ms.endOfStream();
        this.stats.ended = true;
        this.log(`all ${this.stats.segments} segments loaded`);
        return;
      }
      await sleep(Math.max(300, pl.targetDuration * 500));
      if (this.stopped) return;
    }
  }
}
