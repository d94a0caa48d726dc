// The official @aws-sdk/client-kinesis-video client against a running
// openkvs: every control-plane operation, over HTTP and HTTPS, and the
// error cases the SDK must see exactly as KVS sends them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import {
  KinesisVideoClient,
  CreateStreamCommand, DescribeStreamCommand, ListStreamsCommand, UpdateStreamCommand, DeleteStreamCommand,
  UpdateDataRetentionCommand, GetDataEndpointCommand, TagStreamCommand, UntagStreamCommand, ListTagsForStreamCommand,
  TagResourceCommand, UntagResourceCommand, ListTagsForResourceCommand,
  CreateSignalingChannelCommand, DescribeSignalingChannelCommand, ListSignalingChannelsCommand,
  UpdateSignalingChannelCommand, DeleteSignalingChannelCommand, GetSignalingChannelEndpointCommand,
  UpdateNotificationConfigurationCommand, DescribeNotificationConfigurationCommand,
  UpdateImageGenerationConfigurationCommand, DescribeImageGenerationConfigurationCommand,
  UpdateMediaStorageConfigurationCommand, DescribeMediaStorageConfigurationCommand,
  DescribeMappedResourceConfigurationCommand,
  ResourceNotFoundException, ResourceInUseException, VersionMismatchException, InvalidArgumentException,
} from '@aws-sdk/client-kinesis-video';
import { startServer, CREDENTIALS } from './server.js';

let srv;
let kv;

before(async () => {
  srv = await startServer();
  kv = new KinesisVideoClient({ region: 'us-west-2', endpoint: srv.http, credentials: CREDENTIALS });
});
after(async () => { await srv?.stop(); });

async function rejectsWith(promise, cls, status) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof cls, `got ${err.name}: ${err.message}`);
    if (status) assert.equal(err.$metadata.httpStatusCode, status);
    return true;
  });
}

test('stream lifecycle', async () => {
  const created = await kv.send(new CreateStreamCommand({
    StreamName: 'e2e-cam', MediaType: 'video/h264', DataRetentionInHours: 24, Tags: { site: 'lab' },
  }));
  assert.match(created.StreamARN, /^arn:aws:kinesisvideo:[a-z0-9-]+:\d{12}:stream\/e2e-cam\/\d{13}$/);

  const { StreamInfo: info } = await kv.send(new DescribeStreamCommand({ StreamName: 'e2e-cam' }));
  assert.equal(info.StreamARN, created.StreamARN);
  assert.equal(info.Status, 'ACTIVE');
  assert.equal(info.DataRetentionInHours, 24);
  assert.equal(info.MediaType, 'video/h264');
  assert.ok(info.CreationTime instanceof Date && Math.abs(info.CreationTime - Date.now()) < 60_000);

  await rejectsWith(kv.send(new CreateStreamCommand({ StreamName: 'e2e-cam' })), ResourceInUseException, 400);

  await kv.send(new UpdateStreamCommand({ StreamName: 'e2e-cam', CurrentVersion: info.Version, DeviceName: 'porch' }));
  await rejectsWith(kv.send(new UpdateStreamCommand({ StreamName: 'e2e-cam', CurrentVersion: info.Version, DeviceName: 'x' })),
    VersionMismatchException, 400);
  const v2 = (await kv.send(new DescribeStreamCommand({ StreamARN: created.StreamARN }))).StreamInfo;
  assert.equal(v2.DeviceName, 'porch');
  assert.notEqual(v2.Version, info.Version);

  await kv.send(new UpdateDataRetentionCommand({
    StreamName: 'e2e-cam', CurrentVersion: v2.Version, Operation: 'INCREASE_DATA_RETENTION', DataRetentionChangeInHours: 6,
  }));
  const v3 = (await kv.send(new DescribeStreamCommand({ StreamName: 'e2e-cam' }))).StreamInfo;
  assert.equal(v3.DataRetentionInHours, 30);
  await rejectsWith(kv.send(new UpdateDataRetentionCommand({
    StreamName: 'e2e-cam', CurrentVersion: v3.Version, Operation: 'DECREASE_DATA_RETENTION', DataRetentionChangeInHours: 31,
  })), InvalidArgumentException, 400);

  for (const APIName of ['PUT_MEDIA', 'GET_MEDIA', 'LIST_FRAGMENTS', 'GET_HLS_STREAMING_SESSION_URL', 'GET_CLIP', 'GET_IMAGES']) {
    const ep = await kv.send(new GetDataEndpointCommand({ StreamName: 'e2e-cam', APIName }));
    assert.equal(ep.DataEndpoint, srv.http, APIName);
  }

  await kv.send(new TagStreamCommand({ StreamName: 'e2e-cam', Tags: { owner: 'ops', tier: 'gold' } }));
  await kv.send(new UntagStreamCommand({ StreamARN: created.StreamARN, TagKeyList: ['tier'] }));
  const tags = await kv.send(new ListTagsForStreamCommand({ StreamName: 'e2e-cam' }));
  assert.deepEqual(tags.Tags, { site: 'lab', owner: 'ops' });

  await kv.send(new TagResourceCommand({ ResourceARN: created.StreamARN, Tags: [{ Key: 'k', Value: 'v' }] }));
  await kv.send(new UntagResourceCommand({ ResourceARN: created.StreamARN, TagKeyList: ['owner'] }));
  const rtags = await kv.send(new ListTagsForResourceCommand({ ResourceARN: created.StreamARN }));
  assert.deepEqual(rtags.Tags, { site: 'lab', k: 'v' });

  await kv.send(new UpdateNotificationConfigurationCommand({
    StreamName: 'e2e-cam', NotificationConfiguration: { Status: 'ENABLED', DestinationConfig: { Uri: 'arn:aws:sns:us-west-2:000000000000:topic' } },
  }));
  const nc = await kv.send(new DescribeNotificationConfigurationCommand({ StreamName: 'e2e-cam' }));
  assert.equal(nc.NotificationConfiguration.Status, 'ENABLED');

  const igc = {
    Status: 'ENABLED', ImageSelectorType: 'SERVER_TIMESTAMP',
    DestinationConfig: { Uri: 's3://bucket/prefix', DestinationRegion: 'us-west-2' },
    SamplingInterval: 3000, Format: 'JPEG', FormatConfig: { JPEGQuality: '80' }, WidthPixels: 320, HeightPixels: 240,
  };
  await kv.send(new UpdateImageGenerationConfigurationCommand({ StreamName: 'e2e-cam', ImageGenerationConfiguration: igc }));
  const ig = await kv.send(new DescribeImageGenerationConfigurationCommand({ StreamName: 'e2e-cam' }));
  assert.deepEqual(ig.ImageGenerationConfiguration, igc);

  const list = await kv.send(new ListStreamsCommand({ StreamNameCondition: { ComparisonOperator: 'BEGINS_WITH', ComparisonValue: 'e2e-' } }));
  assert.deepEqual(list.StreamInfoList.map((s) => s.StreamName), ['e2e-cam']);

  const cur = (await kv.send(new DescribeStreamCommand({ StreamName: 'e2e-cam' }))).StreamInfo;
  await rejectsWith(kv.send(new DeleteStreamCommand({ StreamARN: created.StreamARN, CurrentVersion: 'stale0version' })),
    VersionMismatchException, 400);
  await kv.send(new DeleteStreamCommand({ StreamARN: created.StreamARN, CurrentVersion: cur.Version }));
  await rejectsWith(kv.send(new DescribeStreamCommand({ StreamName: 'e2e-cam' })), ResourceNotFoundException, 404);
});

test('list pagination and bad tokens', async () => {
  for (let i = 0; i < 7; i++) await kv.send(new CreateStreamCommand({ StreamName: `page-${i}` }));
  const names = [];
  let NextToken;
  do {
    const page = await kv.send(new ListStreamsCommand({ MaxResults: 3, NextToken, StreamNameCondition: { ComparisonOperator: 'BEGINS_WITH', ComparisonValue: 'page-' } }));
    assert.ok(page.StreamInfoList.length <= 3);
    names.push(...page.StreamInfoList.map((s) => s.StreamName));
    NextToken = page.NextToken;
  } while (NextToken);
  assert.deepEqual(names, [0, 1, 2, 3, 4, 5, 6].map((i) => `page-${i}`));
  await rejectsWith(kv.send(new ListStreamsCommand({ NextToken: 'bm90LWEtdG9rZW4=' })), InvalidArgumentException, 400);
});

test('invalid names and ARNs', async () => {
  await rejectsWith(kv.send(new CreateStreamCommand({ StreamName: 'bad name!' })), InvalidArgumentException, 400);
  await rejectsWith(kv.send(new DescribeStreamCommand({ StreamARN: 'arn:nope' })), InvalidArgumentException, 400);
  await rejectsWith(kv.send(new DescribeStreamCommand({ StreamName: 'does-not-exist' })), ResourceNotFoundException, 404);
  await rejectsWith(kv.send(new DescribeSignalingChannelCommand({ ChannelName: 'does-not-exist' })), ResourceNotFoundException, 404);
});

test('signaling channel lifecycle and endpoints over HTTPS', async () => {
  const { NodeHttpHandler } = await import('@smithy/node-http-handler');
  const kvs = new KinesisVideoClient({
    region: 'us-west-2', endpoint: srv.https, credentials: CREDENTIALS,
    requestHandler: new NodeHttpHandler({ httpsAgent: new https.Agent({ ca: srv.ca }) }),
  });
  const { ChannelARN } = await kvs.send(new CreateSignalingChannelCommand({
    ChannelName: 'e2e-chan', ChannelType: 'SINGLE_MASTER', SingleMasterConfiguration: { MessageTtlSeconds: 30 },
    Tags: [{ Key: 'room', Value: 'lobby' }],
  }));
  assert.match(ChannelARN, /^arn:aws:kinesisvideo:[a-z0-9-]+:\d{12}:channel\/e2e-chan\/\d{13}$/);
  const { ChannelInfo: ci } = await kvs.send(new DescribeSignalingChannelCommand({ ChannelName: 'e2e-chan' }));
  assert.equal(ci.ChannelStatus, 'ACTIVE');
  assert.equal(ci.ChannelType, 'SINGLE_MASTER');
  assert.equal(ci.SingleMasterConfiguration.MessageTtlSeconds, 30);

  for (const Role of ['MASTER', 'VIEWER']) {
    const ep = await kvs.send(new GetSignalingChannelEndpointCommand({
      ChannelARN, SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role },
    }));
    const byProto = Object.fromEntries(ep.ResourceEndpointList.map((e) => [e.Protocol, e.ResourceEndpoint]));
    const host = new URL(srv.https).host;
    assert.equal(byProto.WSS, `wss://${host}`);
    assert.equal(byProto.HTTPS, `https://${host}`);
  }

  await kvs.send(new UpdateSignalingChannelCommand({ ChannelARN, CurrentVersion: ci.Version, SingleMasterConfiguration: { MessageTtlSeconds: 90 } }));
  const { ChannelInfo: ci2 } = await kvs.send(new DescribeSignalingChannelCommand({ ChannelARN }));
  assert.equal(ci2.SingleMasterConfiguration.MessageTtlSeconds, 90);

  await kvs.send(new TagResourceCommand({ ResourceARN: ChannelARN, Tags: [{ Key: 'floor', Value: '2' }] }));
  const tags = await kvs.send(new ListTagsForResourceCommand({ ResourceARN: ChannelARN }));
  assert.deepEqual(tags.Tags, { room: 'lobby', floor: '2' });

  const { StreamARN } = await kvs.send(new CreateStreamCommand({ StreamName: 'e2e-storage', DataRetentionInHours: 1 }));
  await kvs.send(new UpdateMediaStorageConfigurationCommand({ ChannelARN, MediaStorageConfiguration: { StreamARN, Status: 'ENABLED' } }));
  const ms = await kvs.send(new DescribeMediaStorageConfigurationCommand({ ChannelARN }));
  assert.deepEqual(ms.MediaStorageConfiguration, { StreamARN, Status: 'ENABLED' });
  const mapped = await kvs.send(new DescribeMappedResourceConfigurationCommand({ StreamARN }));
  assert.equal(mapped.MappedResourceConfigurationList[0].ARN, ChannelARN);

  const list = await kvs.send(new ListSignalingChannelsCommand({ ChannelNameCondition: { ComparisonOperator: 'BEGINS_WITH', ComparisonValue: 'e2e-' } }));
  assert.deepEqual(list.ChannelInfoList.map((c) => c.ChannelName), ['e2e-chan']);

  await rejectsWith(kvs.send(new DeleteSignalingChannelCommand({ ChannelARN, CurrentVersion: ci.Version })), VersionMismatchException, 400);
  await kvs.send(new DeleteSignalingChannelCommand({ ChannelARN }));
  await rejectsWith(kvs.send(new DescribeSignalingChannelCommand({ ChannelARN })), ResourceNotFoundException, 404);
});

test('unsigned and wrongly signed requests are refused', async () => {
  const wrong = new KinesisVideoClient({ region: 'us-west-2', endpoint: srv.http, credentials: { ...CREDENTIALS, secretAccessKey: 'wrong' } });
  await assert.rejects(wrong.send(new ListStreamsCommand({})), (err) => {
    assert.equal(err.name, 'InvalidSignatureException');
    assert.equal(err.$metadata.httpStatusCode, 403);
    return true;
  });
  const unknown = new KinesisVideoClient({ region: 'us-west-2', endpoint: srv.http, credentials: { accessKeyId: 'AKIANOTKNOWN', secretAccessKey: 'x' } });
  await assert.rejects(unknown.send(new ListStreamsCommand({})), (err) => {
    assert.equal(err.name, 'UnrecognizedClientException');
    assert.equal(err.$metadata.httpStatusCode, 403);
    return true;
  });
  const res = await fetch(`${srv.http}/listStreams`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
});

test('presigned URLs: fresh accepted, expired refused', async () => {
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const { Sha256 } = await import('@aws-crypto/sha256-js');
  const { HttpRequest } = await import('@smithy/protocol-http');
  const url = new URL(srv.http);
  const signer = new SignatureV4({ service: 'kinesisvideo', region: 'us-west-2', credentials: CREDENTIALS, sha256: Sha256 });
  const req = new HttpRequest({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/listStreams', headers: { host: url.host } });
  const fresh = await signer.presign(req, { expiresIn: 60 });
  const ok = await fetch(`${srv.http}/listStreams?${new URLSearchParams(fresh.query)}`, { method: 'POST' });
  assert.equal(ok.status, 200, await ok.text());
  const stale = await signer.presign(req, { expiresIn: 60, signingDate: new Date(Date.now() - 3600_000) });
  const bad = await fetch(`${srv.http}/listStreams?${new URLSearchParams(stale.query)}`, { method: 'POST' });
  assert.equal(bad.status, 403);
  assert.match(await bad.text(), /Signature expired/);
});

test('state survives kill -9 and a restart', async () => {
  const first = await startServer();
  const kvc = new KinesisVideoClient({ region: 'us-west-2', endpoint: first.http, credentials: CREDENTIALS });
  const { StreamARN } = await kvc.send(new CreateStreamCommand({ StreamName: 'crash-kept', DataRetentionInHours: 3 }));
  const { ChannelARN } = await kvc.send(new CreateSignalingChannelCommand({ ChannelName: 'crash-chan' }));
  await first.stop({ signal: 'SIGKILL', keepData: true });

  const second = await startServer({ dataDir: first.dataDir });
  try {
    const kv2 = new KinesisVideoClient({ region: 'us-west-2', endpoint: second.http, credentials: CREDENTIALS });
    const { StreamInfo } = await kv2.send(new DescribeStreamCommand({ StreamName: 'crash-kept' }));
    assert.equal(StreamInfo.StreamARN, StreamARN);
    assert.equal(StreamInfo.DataRetentionInHours, 3);
    const { ChannelInfo } = await kv2.send(new DescribeSignalingChannelCommand({ ChannelName: 'crash-chan' }));
    assert.equal(ChannelInfo.ChannelARN, ChannelARN);
  } finally {
    await second.stop();
    const { rmSync } = await import('node:fs');
    rmSync(first.dataDir, { recursive: true, force: true });
  }
});
