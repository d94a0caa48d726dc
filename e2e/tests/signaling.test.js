// The official KVS WebRTC JavaScript SDK (amazon-kinesis-video-streams-webrtc)
// as MASTER and VIEWER in Node against openkvs signaling, with `ws` as the
// WebSocket, and GetIceServerConfig through the official
// @aws-sdk/client-kinesis-video-signaling client. Only the endpoint and the
// CA differ from what these clients do against AWS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { once } from 'node:events';
import WS from 'ws';
import {
  KinesisVideoClient, CreateSignalingChannelCommand, GetSignalingChannelEndpointCommand, DeleteSignalingChannelCommand,
} from '@aws-sdk/client-kinesis-video';
import {
  KinesisVideoSignalingClient, GetIceServerConfigCommand, SendAlexaOfferToMasterCommand,
  InvalidArgumentException, ResourceNotFoundException,
} from '@aws-sdk/client-kinesis-video-signaling';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { SignalingClient, Role } from 'amazon-kinesis-video-streams-webrtc';
import { startServer, CREDENTIALS } from './server.js';

const REGION = 'us-west-2';
let srv;
let kv;

before(async () => {
  srv = await startServer();
  // The SDK opens `new WebSocket(url)`; in Node that is `ws`, told to
  // trust openkvs' CA.
  globalThis.WebSocket = class extends WS {
    constructor(url, protocols) { super(url, protocols, { ca: srv.ca }); }
  };
  kv = new KinesisVideoClient({
    region: REGION, endpoint: srv.https, credentials: CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: srv.ca }) }),
  });
});
after(async () => {
  delete globalThis.WebSocket;
  await srv?.stop();
});

async function channel(name) {
  const { ChannelARN } = await kv.send(new CreateSignalingChannelCommand({ ChannelName: name }));
  const ep = async (Role) => {
    const out = await kv.send(new GetSignalingChannelEndpointCommand({
      ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role },
    }));
    return Object.fromEntries(out.ResourceEndpointList.map((e) => [e.Protocol, e.ResourceEndpoint]));
  };
  return { arn: ChannelARN, master: await ep('MASTER'), viewer: await ep('VIEWER') };
}

function client(role, arn, endpoint, clientId) {
  return new SignalingClient({
    channelARN: arn, channelEndpoint: endpoint, role, region: REGION, clientId, credentials: CREDENTIALS,
  });
}

// next resolves with the arguments of emitter's next `event`, or rejects
// after ms.
function next(emitter, event, ms = 5000) {
  return Promise.race([
    once(emitter, event),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms).unref()),
  ]);
}

async function opened(c) {
  const p = next(c, 'open');
  c.open();
  await p;
}

const OFFER = { type: 'offer', sdp: 'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const ANSWER = { type: 'answer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const CANDIDATE = { candidate: 'candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host', sdpMid: '0', sdpMLineIndex: 0 };

test('SDK master and viewer exchange offer, candidates and answer', async () => {
  const ch = await channel('e2e-sdk-signaling');
  assert.match(ch.master.WSS, /^wss:\/\//);
  const master = client(Role.MASTER, ch.arn, ch.master.WSS);
  const viewer = client(Role.VIEWER, ch.arn, ch.viewer.WSS, 'e2e-viewer-1');
  await opened(master);
  await opened(viewer);
  try {
    const gotOffer = next(master, 'sdpOffer');
    const gotCandidate = next(master, 'iceCandidate');
    viewer.sendSdpOffer(OFFER);
    viewer.sendIceCandidate(CANDIDATE);
    const [offer, offerFrom] = await gotOffer;
    assert.deepEqual(offer, OFFER);
    assert.equal(offerFrom, 'e2e-viewer-1');
    const [candidate, candidateFrom] = await gotCandidate;
    assert.deepEqual(candidate, CANDIDATE);
    assert.equal(candidateFrom, 'e2e-viewer-1');

    const gotAnswer = next(viewer, 'sdpAnswer');
    const gotMasterCandidate = next(viewer, 'iceCandidate');
    master.sendSdpAnswer(ANSWER, offerFrom);
    master.sendIceCandidate(CANDIDATE, offerFrom);
    const [answer] = await gotAnswer;
    assert.deepEqual(answer, ANSWER);
    const [masterCandidate] = await gotMasterCandidate;
    assert.deepEqual(masterCandidate, CANDIDATE);

    // A refused message with a correlationId comes back as the SDK's
    // statusResponse event; the connection stays usable.
    const status = next(master, 'statusResponse');
    master.sendSdpAnswer(ANSWER, 'not a client id', 'corr-1');
    const [sr] = await status;
    assert.equal(sr.correlationId, 'corr-1');
    assert.equal(sr.errorType, 'InvalidArgumentException');
    assert.equal(String(sr.statusCode), '400');

    // Deleting the channel closes both connections (after GO_AWAY, which
    // the JS SDK does not surface).
    const closed = Promise.all([next(master, 'close'), next(viewer, 'close')]);
    await kv.send(new DeleteSignalingChannelCommand({ ChannelARN: ch.arn }));
    await closed;
  } finally {
    master.close();
    viewer.close();
  }
});

test('GetIceServerConfig through the official signaling client', async () => {
  const ch = await channel('e2e-sdk-ice');
  const sig = new KinesisVideoSignalingClient({
    region: REGION, endpoint: ch.viewer.HTTPS, credentials: CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: srv.ca }) }),
  });
  const out = await sig.send(new GetIceServerConfigCommand({ ChannelARN: ch.arn, ClientId: 'e2e-viewer-1', Service: 'TURN' }));
  assert.ok(out.IceServerList.length >= 1 && out.IceServerList.length <= 5, JSON.stringify(out));
  const uris = out.IceServerList.flatMap((s) => s.Uris);
  for (const s of out.IceServerList) {
    assert.ok(s.Uris.length >= 1 && s.Uris.length <= 4);
    assert.equal(s.Ttl, 300);
    assert.match(s.Username, /^\d+:/);
    assert.ok(s.Password.length > 0);
  }
  assert.ok(uris.some((u) => /^stun:127\.0\.0\.1:\d+$/.test(u)), uris.join(' '));
  assert.ok(uris.some((u) => /^turn:127\.0\.0\.1:\d+\?transport=udp$/.test(u)), uris.join(' '));

  await assert.rejects(sig.send(new GetIceServerConfigCommand({ ChannelARN: ch.arn.replace('/e2e-sdk-ice/', '/nope/') })),
    (err) => err instanceof ResourceNotFoundException && err.$metadata.httpStatusCode === 404);
  await assert.rejects(sig.send(new GetIceServerConfigCommand({ ChannelARN: ch.arn, ClientId: 'bad id' })),
    (err) => err instanceof InvalidArgumentException && err.$metadata.httpStatusCode === 400);
});

test('SendAlexaOfferToMaster through the official signaling client answers with the SDK master answer', async () => {
  const ch = await channel('e2e-sdk-alexa');
  const master = client(Role.MASTER, ch.arn, ch.master.WSS);
  await opened(master);
  try {
    master.on('sdpOffer', (offer, from) => {
      assert.deepEqual(offer, OFFER);
      master.sendSdpAnswer(ANSWER, from);
    });
    const sig = new KinesisVideoSignalingClient({
      region: REGION, endpoint: ch.master.HTTPS, credentials: CREDENTIALS,
      requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: srv.ca }) }),
    });
    const out = await sig.send(new SendAlexaOfferToMasterCommand({
      ChannelARN: ch.arn, SenderClientId: 'alexa-e2e', MessagePayload: Buffer.from(JSON.stringify(OFFER)).toString('base64'),
    }));
    assert.deepEqual(JSON.parse(Buffer.from(out.Answer, 'base64').toString()), ANSWER);
  } finally {
    master.close();
  }
});
