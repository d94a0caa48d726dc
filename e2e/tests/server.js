// Starts a real openkvs server (the binary built by `make`) on loopback
// ports chosen by the kernel, with a fresh data dir, for one test file.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';

export const BIN = process.env.OPENKVS_BIN || resolve(import.meta.dirname, '../../bin/openkvs');

export const CREDENTIALS = { accessKeyId: 'AKIAE2ETESTKEY000001', secretAccessKey: 'e2e/secret+key/0123456789abcdefghijklmnop' };

// startServer runs `openkvs serve` and resolves once it printed its URLs.
export async function startServer({ dataDir, extraArgs = [] } = {}) {
  const dir = dataDir || mkdtempSync(join(tmpdir(), 'openkvs-e2e-'));
  const args = ['serve', '--data-dir', dir, '--listen', '127.0.0.1:0', '--tls-listen', '127.0.0.1:0',
    '--turn-listen', '127.0.0.1:0', '--turn-tls-listen', 'off',
    '--credentials', `${CREDENTIALS.accessKeyId}:${CREDENTIALS.secretAccessKey}`, ...extraArgs];
  const proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let errOut = '';
  proc.stderr.on('data', (d) => { errOut += d; });
  const ready = new Promise((resolveReady, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      const http = out.match(/HTTP  (http:\/\/\S+)/);
      const https = out.match(/HTTPS (https:\/\/\S+)/);
      const ca = out.match(/CA certificate: (\S+)/);
      if (http && https && ca) resolveReady({ http: http[1], https: https[1], caPath: ca[1] });
    });
    proc.on('exit', (code) => reject(new Error(`openkvs exited with ${code}: ${errOut}`)));
  });
  const urls = await ready;
  return {
    ...urls,
    dataDir: dir,
    ca: readFileSync(urls.caPath),
    proc,
    async stop({ signal = 'SIGTERM', keepData = false } = {}) {
      if (proc.exitCode === null) {
        proc.kill(signal);
        await once(proc, 'exit');
      }
      if (!keepData && !dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
