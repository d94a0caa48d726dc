// A master or viewer built on the official KVS WebRTC SDK's SignalingClient,
// wired as the SDK's own sample does: the viewer offers to receive video,
// the master answers each viewer with its camera (or a canvas) track.
/* global KVSWebRTC */
(() => {
  const log = (msg) => { document.getElementById('log').textContent += msg + '\n'; };
  const video = () => document.getElementById('video');
  const peers = {};
  let client = null;

  function signaling(opts, role) {
    const c = new KVSWebRTC.SignalingClient({
      channelARN: opts.channelARN,
      channelEndpoint: opts.wss,
      clientId: role === KVSWebRTC.Role.VIEWER ? opts.clientId : undefined,
      role,
      region: opts.region,
      credentials: opts.credentials,
      systemClockOffset: 0,
    });
    c.on('error', (err) => log('signaling error: ' + (err && err.message)));
    c.on('close', () => log('signaling closed'));
    c.on('statusResponse', (s) => log('STATUS_RESPONSE ' + JSON.stringify(s)));
    return c;
  }

  function newPeer(opts, sendCandidate) {
    const pc = new RTCPeerConnection({ iceServers: opts.iceServers || [], iceTransportPolicy: opts.iceTransportPolicy || 'all' });
    pc.onicecandidate = ({ candidate }) => { if (candidate) sendCandidate(candidate); };
    pc.oniceconnectionstatechange = () => log('ICE ' + pc.iceConnectionState);
    return pc;
  }

  function canvasStream() {
    const canvas = document.getElementById('canvas');
    const ctx = canvas.getContext('2d');
    let n = 0;
    setInterval(() => {
      n++;
      ctx.fillStyle = `hsl(${(n * 5) % 360} 70% 40%)`;
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.fillStyle = '#fff';
      ctx.fillRect((n * 6) % canvas.width, 0, 30, canvas.height);
    }, 33);
    return canvas.captureStream(30);
  }

  async function startMaster(opts) {
    const stream = opts.source === 'canvas' ? canvasStream() : await navigator.mediaDevices.getUserMedia({ video: true });
    video().srcObject = stream;
    client = signaling(opts, KVSWebRTC.Role.MASTER);
    client.on('sdpOffer', async (offer, remoteId) => {
      log('offer from ' + remoteId);
      const pc = newPeer(opts, (c) => client.sendIceCandidate(c, remoteId));
      peers[remoteId] = pc;
      stream.getTracks().forEach((t) => pc.addTrack(t, stream));
      await pc.setRemoteDescription(offer);
      await pc.setLocalDescription(await pc.createAnswer());
      client.sendSdpAnswer(pc.localDescription, remoteId);
    });
    client.on('iceCandidate', (candidate, remoteId) => peers[remoteId]?.addIceCandidate(candidate));
    await opened(client);
  }

  async function startViewer(opts) {
    client = signaling(opts, KVSWebRTC.Role.VIEWER);
    const pc = newPeer(opts, (c) => client.sendIceCandidate(c));
    peers.MASTER = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.ontrack = ({ track, streams }) => {
      log('track ' + track.kind);
      if (track.kind === 'video') video().srcObject = streams[0] || new MediaStream([track]);
    };
    client.on('sdpAnswer', (answer) => { log('answer'); pc.setRemoteDescription(answer); });
    client.on('iceCandidate', (candidate) => pc.addIceCandidate(candidate));
    client.on('open', async () => {
      await pc.setLocalDescription(await pc.createOffer());
      client.sendSdpOffer(pc.localDescription);
      log('offer sent');
    });
    await opened(client);
  }

  function opened(c) {
    return new Promise((resolve, reject) => {
      c.on('open', () => { log('signaling open'); resolve(); });
      c.on('error', reject);
      c.open();
    });
  }

  // What the tests read: decoded and displayed frames of the remote video.
  async function received() {
    let framesDecoded = 0;
    let audioPackets = 0;
    let codec = '';
    let relayProtocol = '';
    const pc = peers.MASTER;
    if (pc) {
      const report = await pc.getStats();
      report.forEach((r) => {
        if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') {
          relayProtocol = report.get(r.localCandidateId)?.relayProtocol || '';
        }
        if (r.type === 'inbound-rtp' && r.kind === 'video') {
          framesDecoded += r.framesDecoded || 0;
          if (r.codecId && report.get(r.codecId)) codec = report.get(r.codecId).mimeType;
        }
        if (r.type === 'inbound-rtp' && r.kind === 'audio') audioPackets += r.packetsReceived || 0;
      });
    }
    const q = video().getVideoPlaybackQuality();
    return { framesDecoded, audioPackets, codec, relayProtocol, totalVideoFrames: q.totalVideoFrames, width: video().videoWidth };
  }

  window.sdkPeer = { startMaster, startViewer, received, log: () => document.getElementById('log').textContent };
})();
