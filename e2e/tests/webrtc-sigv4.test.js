// The console's in-browser SigV4 module (internal/console/static/sigv4.js),
// run in Node on the same WebCrypto API: AWS' published example, the
// official @smithy/signature-v4 signer, and a real openkvs that must accept
// its header-signed calls and its presigned signaling WebSocket URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SignatureV4 } from '@smithy/signature-v4';
import { HttpRequest } from '@smithy/protocol-http';
import { Sha256 } from '@aws-crypto/sha256-js';
import WebSocket from 'ws';
import { KinesisVideoClient, CreateSignalingChannelCommand } from '@aws-sdk/client-kinesis-video';
import { signRequest, presignURL, uriEncode } from '../../internal/console/static/sigv4.js';
import { call } from '../../internal/console/static/kvs.js';
import { startServer, CREDENTIALS } from './server.js';

const EXAMPLE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const WHEN = new Date(Date.UTC(2015, 7, 30, 12, 36, 0));

test('AWS get-vanilla example', async () => {
  // The "get-vanilla" case of AWS' SigV4 test suite.
  const h = await signRequest({
    method: 'GET', url: 'https://example.amazonaws.com/', region: 'us-east-1', service: 'service', credentials: EXAMPLE, date: WHEN,
  });
  assert.equal(h['X-Amz-Date'], '20150830T123600Z');
  assert.equal(h.Authorization, 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, '
    + 'SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
});

test('uriEncode keeps only unreserved characters', () => {
  assert.equal(uriEncode("a-b_c.d~e f+g/h:i!'()*"), 'a-b_c.d~e%20f%2Bg%2Fh%3Ai%21%27%28%29%2A');
});

function smithy(credentials, region = 'us-west-2') {
  return new SignatureV4({ credentials, region, service: 'kinesisvideo', sha256: Sha256, applyChecksum: false });
}

const cases = [
  { name: 'long-term key', creds: CREDENTIALS },
  { name: 'session token', creds: { ...CREDENTIALS, sessionToken: 'FwoGZXIvYXdzE+token/with=chars' } },
];

for (const { name, creds } of cases) {
  test(`header signing matches @smithy/signature-v4 (${name})`, async () => {
    const body = JSON.stringify({ ChannelName: 'cam-1', ChannelARN: 'arn:aws:kinesisvideo:us-west-2:123456789012:channel/cam-1/1' });
    const url = 'https://127.0.0.1:8443/v1/get-ice-server-config';
    const mine = await signRequest({
      method: 'POST', url, headers: { 'Content-Type': 'application/json' }, body, region: 'us-west-2', credentials: creds, date: WHEN,
    });
    const req = new HttpRequest({
      method: 'POST', protocol: 'https:', hostname: '127.0.0.1', port: 8443, path: '/v1/get-ice-server-config',
      headers: { host: '127.0.0.1:8443', 'content-type': 'application/json', 'x-amz-date': mine['X-Amz-Date'] }, body,
    });
    if (creds.sessionToken) req.headers['x-amz-security-token'] = creds.sessionToken;
    const theirs = await smithy(creds).sign(req, { signingDate: WHEN });
    assert.equal(mine.Authorization, theirs.headers.authorization);
  });

  test(`presigned URL matches @smithy/signature-v4 (${name})`, async () => {
    const arn = 'arn:aws:kinesisvideo:us-west-2:123456789012:channel/cam-1/1700000000000';
    const url = `wss://127.0.0.1:8443/?X-Amz-ChannelARN=${encodeURIComponent(arn)}&X-Amz-ClientId=viewer-1`;
    const mine = new URL(await presignURL({ url, region: 'us-west-2', credentials: creds, date: WHEN }));
    const req = new HttpRequest({
      method: 'GET', protocol: 'wss:', hostname: '127.0.0.1', port: 8443, path: '/',
      headers: { host: '127.0.0.1:8443' }, query: { 'X-Amz-ChannelARN': arn, 'X-Amz-ClientId': 'viewer-1' },
    });
    // KVS signs the session token: hoist it into the query before signing.
    if (creds.sessionToken) req.query['X-Amz-Security-Token'] = creds.sessionToken;
    const theirs = await smithy({ accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey })
      .presign(req, { signingDate: WHEN, expiresIn: 299 });
    for (const [k, v] of Object.entries(theirs.query)) assert.equal(mine.searchParams.get(k), v, k);
    assert.equal(mine.searchParams.get('X-Amz-Signature'), theirs.query['X-Amz-Signature']);
    assert.equal(mine.searchParams.get('X-Amz-SignedHeaders'), 'host');
    assert.equal(mine.pathname, '/');
  });
}

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

test('openkvs accepts the page signing: control plane and signaling WebSocket', async () => {
  const kv = new KinesisVideoClient({ region: 'us-west-2', endpoint: srv.http, credentials: CREDENTIALS });
  const { ChannelARN } = await kv.send(new CreateSignalingChannelCommand({ ChannelName: 'sigv4-page' }));
  const auth = { endpoint: srv.http, region: 'us-west-2', credentials: CREDENTIALS };
  const { ChannelInfo } = await call({ ...auth, path: '/describeSignalingChannel', body: { ChannelName: 'sigv4-page' } });
  assert.equal(ChannelInfo.ChannelARN, ChannelARN);
  const { ResourceEndpointList } = await call({
    ...auth, path: '/getSignalingChannelEndpoint',
    body: { ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: 'VIEWER' } },
  });
  const wss = ResourceEndpointList.find((e) => e.Protocol === 'WSS').ResourceEndpoint;
  assert.match(wss, /^wss:\/\//);
  const ice = await call({ ...auth, path: '/v1/get-ice-server-config', body: { ChannelARN, ClientId: 'viewer-1', Service: 'TURN' } });
  assert.ok(Array.isArray(ice.IceServerList));

  const wrong = { ...CREDENTIALS, secretAccessKey: 'not-the-secret' };
  await assert.rejects(call({ ...auth, credentials: wrong, path: '/describeSignalingChannel', body: { ChannelName: 'sigv4-page' } }),
    (err) => err.status === 403 && err.type === 'InvalidSignatureException');

  const open = async (credentials) => {
    const url = await presignURL({
      url: `${wss}/?X-Amz-ChannelARN=${encodeURIComponent(ChannelARN)}&X-Amz-ClientId=viewer-1`, region: 'us-west-2', credentials,
    });
    const ws = new WebSocket(url, { ca: srv.ca });
    return new Promise((resolve) => {
      ws.on('open', () => { ws.close(); resolve('open'); });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.on('error', (err) => resolve(err.message));
    });
  };
  assert.equal(await open(CREDENTIALS), 'open');
  assert.equal(await open(wrong), 403);
});
