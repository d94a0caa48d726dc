// Time to first frame of a Chromium viewer (the console's /webrtc page)
// joining a running `openkvs master` on loopback: from the Start click
// (DescribeSignalingChannel, GetSignalingChannelEndpoint, GetIceServerConfig,
// WebSocket, offer/answer, ICE) to the first painted frame, as the page
// reports it. Prints every run and the median and p90.
//
//   OPENKVS_BIN=bin/openkvs unshare -n sh -c 'ip link set lo up; node e2e/bench-ttff.js 20'
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { KinesisVideoClient, CreateSignalingChannelCommand } from '@aws-sdk/client-kinesis-video';
import { startServer, BIN, CREDENTIALS } from './tests/server.js';
import { launch } from './tests/browser.js';

const runs = Number(process.argv[2] || 10);
const REGION = 'us-west-2';
const CHANNEL = 'bench-ttff';

const srv = await startServer();
const browser = await launch(srv);
let master;
try {
  const kv = new KinesisVideoClient({ region: REGION, endpoint: srv.http, credentials: CREDENTIALS });
  await kv.send(new CreateSignalingChannelCommand({ ChannelName: CHANNEL }));
  master = spawn(BIN, ['master', CHANNEL, '--endpoint-url', srv.https, '--region', REGION, '--ca-bundle', srv.caPath, '--loopback-only'], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Wait until the master is connected to signaling.
  await new Promise((resolve, reject) => {
    let err = '';
    master.stderr.on('data', (d) => { err += d; if (/signaling (channel|connected)/.test(err)) resolve(); });
    master.on('exit', (code) => reject(new Error(`openkvs master exited with ${code}: ${err}`)));
  });
  const page = await browser.page(`${srv.http}/webrtc?channel=${CHANNEL}&region=${REGION}`);
  await page.fill('#accessKeyId', CREDENTIALS.accessKeyId);
  await page.fill('#secretAccessKey', CREDENTIALS.secretAccessKey);
  const times = [];
  for (let i = 0; i < runs + 1; i++) {
    await page.fill('#clientId', `bench-${i}`);
    await page.click('#start');
    await page.waitForFunction(() => /^\d+$/.test(document.getElementById('stat-ttff').textContent), null, { timeout: 20_000 });
    const ms = Number(await page.textContent('#stat-ttff'));
    await page.click('#stop');
    if (i === 0) continue; // warm-up: first connection, TLS handshakes, codec init
    times.push(ms);
    console.log(`run ${i}: ${ms} ms`);
  }
  times.sort((a, b) => a - b);
  const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
  console.log(`time to first frame over ${runs} joins: median ${q(0.5)} ms, p90 ${q(0.9)} ms, min ${times[0]} ms, max ${times.at(-1)} ms`);
} finally {
  if (master && master.exitCode === null) {
    master.kill('SIGTERM');
    await once(master, 'exit');
  }
  await browser.close();
  await srv.stop();
}
