// Media for the stream-playback tests: ffmpeg-made H.264 (testsrc, one
// key frame a second) sent to openkvs by `openkvs put-media`, from a file
// or live from ffmpeg's -re output.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { ListFragmentsCommand } from '@aws-sdk/client-kinesis-video-archived-media';
import { BIN, CREDENTIALS } from './server.js';

export const REGION = 'us-west-2';

const X264 = ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-keyint_min', '25', '-sc_threshold', '0', '-pix_fmt', 'yuv420p'];

// producerEnv is the environment of our client commands: the test key,
// no session token or profile.
export function producerEnv(region = REGION) {
  const env = { ...process.env, AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey, AWS_REGION: region };
  delete env.AWS_SESSION_TOKEN;
  delete env.AWS_PROFILE;
  return env;
}

// makeClip writes seconds of 320x240 25 fps H.264 in Matroska and returns
// its path.
export function makeClip(seconds) {
  const path = join(mkdtempSync(join(tmpdir(), 'openkvs-streams-')), 'clip.mkv');
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-t', String(seconds), ...X264, '-f', 'matroska', path]);
  return path;
}

// putFile sends a file to stream (created if missing) and resolves when
// every fragment is PERSISTED.
export async function putFile(srv, stream, path) {
  const p = spawn(BIN, ['put-media', '--stream', stream, '--create', '--quiet', '--endpoint-url', srv.http, '--ca-bundle', srv.caPath, path],
    { env: producerEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  p.stderr.on('data', (d) => { err += d; });
  const [code] = await once(p, 'exit');
  if (code !== 0) throw new Error(`put-media exited with ${code}: ${err}`);
}

// liveProducer runs `ffmpeg -re ... | openkvs put-media --stream S -`
// until stop() is called.
export function liveProducer(srv, stream) {
  const ff = spawn('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', ...X264, '-f', 'matroska', '-'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const put = spawn(BIN, ['put-media', '--stream', stream, '--create', '--quiet', '--endpoint-url', srv.http, '--ca-bundle', srv.caPath, '-'],
    { env: producerEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
  ff.stdout.pipe(put.stdin);
  let log = '';
  ff.stderr.on('data', (d) => { log += d; });
  put.stderr.on('data', (d) => { log += d; });
  return {
    log: () => log,
    async stop() {
      for (const p of [ff, put]) {
        if (p.exitCode === null && p.signalCode === null) {
          p.kill('SIGTERM');
          await once(p, 'exit');
        }
      }
    },
  };
}

// waitFor polls fn until it returns a truthy value or timeout ms pass.
export async function waitFor(what, fn, timeout = 20_000) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// recentFragments lists the fragments of stream whose producer time lies in
// the last ten minutes (or the next one), oldest first, through media (a
// KinesisVideoArchivedMediaClient).
export async function recentFragments(media, stream) {
  const now = Date.now();
  const out = await media.send(new ListFragmentsCommand({
    StreamName: stream,
    FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: new Date(now - 600_000), EndTimestamp: new Date(now + 60_000) } },
  }));
  return out.Fragments.sort((a, b) => a.ProducerTimestamp - b.ProducerTimestamp);
}
