// Starts a whole openkvs cluster with scripts/cluster.sh (PostgreSQL,
// NATS, SeaweedFS and real openkvs nodes on 127.0.0.1, 127.0.0.2, ...) in a
// fresh state directory, with the e2e test key, for one test file.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { once } from 'node:events';
import { BIN, CREDENTIALS } from './server.js';

const SCRIPT = resolve(import.meta.dirname, '../../scripts/cluster.sh');

// missing says what the cluster lacks on this machine (PostgreSQL, or
// SeaweedFS' weed not built yet), or '' when nothing. With
// OPENKVS_REQUIRE_CLUSTER_DEPS set (make e2e, CI) a missing part is an
// error instead of a reason to skip.
export function missing() {
  const onPath = (name) => (process.env.PATH || '').split(':').some((d) => d && existsSync(join(d, name)));
  // under(dir, prefix, file): some dir/prefix*/file exists.
  const under = (dir, prefix, file) => {
    try {
      return readdirSync(dir).some((e) => e.startsWith(prefix) && existsSync(join(dir, e, file)));
    } catch {
      return false;
    }
  };
  let why = '';
  if (!onPath('postgres') && !under('/usr/lib/postgresql', '', 'bin/postgres')) {
    why = 'PostgreSQL is not installed (apt-get install postgresql, or make deps)';
  } else if (!process.env.OPENKVS_WEED && !onPath('weed')
    && !under(join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'openkvs'), 'weed-', 'weed')) {
    why = "SeaweedFS' weed is not built (make cluster-deps)";
  }
  if (why && process.env.OPENKVS_REQUIRE_CLUSTER_DEPS) throw new Error(`cluster test: ${why}`);
  return why;
}

// startCluster runs scripts/cluster.sh and resolves once it printed
// "cluster: ready", with each node's URLs and pid and the CA they share.
export async function startCluster({ nodes = 3 } = {}) {
  const state = mkdtempSync(join(tmpdir(), 'openkvs-e2e-cluster-'));
  // cluster.sh keeps the secrets it finds: the nodes take the test key.
  writeFileSync(join(state, 'secrets.env'), [
    `AKID=${CREDENTIALS.accessKeyId}`, `SECRET=${CREDENTIALS.secretAccessKey}`,
    'TURN_SECRET=e2e-cluster-turn-secret', 'S3_KEY=OPENKVSE2E', 'S3_SECRET=e2e-cluster-s3-secret', '',
  ].join('\n'), { mode: 0o600 });
  const proc = spawn(SCRIPT, [], {
    env: { ...process.env, OPENKVS_BIN: BIN, OPENKVS_CLUSTER_DIR: state, OPENKVS_CLUSTER_NODES: String(nodes) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let errOut = '';
  proc.stderr.on('data', (d) => { errOut += d; });
  const ready = new Promise((resolveReady, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('cluster: ready')) resolveReady();
    });
    proc.on('exit', (code) => reject(new Error(`cluster.sh exited with ${code}:\n${errOut}\n${out}`)));
  });
  const timer = setTimeout(() => proc.kill('SIGTERM'), 180_000);
  try {
    await ready;
  } finally {
    clearTimeout(timer);
  }
  const list = [...out.matchAll(/node (\d+): pid (\d+) (http:\/\/\S+) (https:\/\/\S+)/g)]
    .map((m) => ({ pid: Number(m[2]), http: m[3], https: m[4] }));
  const caPath = join(state, 'node1', 'tls', 'ca.pem');
  const ca = readFileSync(caPath);
  return {
    state,
    caPath,
    nodes: list.map((n) => ({ ...n, caPath, ca })),
    log: (name) => {
      try {
        return readFileSync(join(state, 'logs', `${name}.log`), 'utf8').slice(-4000);
      } catch {
        return '';
      }
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await once(proc, 'exit');
      }
      rmSync(state, { recursive: true, force: true });
    },
  };
}
