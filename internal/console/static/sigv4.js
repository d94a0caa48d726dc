// AWS Signature Version 4 in the browser (and in Node 20+), on WebCrypto:
// header-signed JSON POSTs for the KVS APIs and presigned WebSocket URLs
// for KVS signaling. Follows the AWS General Reference, "Create a signed AWS
// API request" and "Authenticating Requests: Using Query Parameters".

const encoder = new TextEncoder();
const subtle = globalThis.crypto.subtle;

/** Service name KVS signs with (control plane, signaling and media). */
export const SERVICE = 'kinesisvideo';

/** The SHA-256 of the empty string, the payload hash of presigned URLs. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function toBytes(data) {
  return typeof data === 'string' ? encoder.encode(data) : data;
}

function hex(buf) {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Returns the lower-case hex SHA-256 of a string or byte array. */
export async function sha256Hex(data) {
  return hex(await subtle.digest('SHA-256', toBytes(data)));
}

async function hmac(key, data) {
  const k = await subtle.importKey('raw', toBytes(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, toBytes(data)));
}

/** Derives the signing key for one day, region and service. */
export async function signingKey(secretAccessKey, date, region, service) {
  let k = await hmac('AWS4' + secretAccessKey, date);
  k = await hmac(k, region);
  k = await hmac(k, service);
  return hmac(k, 'aws4_request');
}

/** Percent-encodes s as RFC 3986 requires (unreserved characters kept). */
export function uriEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Formats a Date as the X-Amz-Date value, YYYYMMDD'T'HHMMSS'Z'. */
export function amzDate(d) {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// canonicalURI encodes each segment of an (already encoded) path once more,
// as every AWS service but S3 expects.
function canonicalURI(pathname) {
  if (!pathname) return '/';
  return pathname.split('/').map(uriEncode).join('/');
}

// canonicalQuery sorts the encoded name=value pairs by name, then value.
function canonicalQuery(params) {
  return params
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

async function signature(creds, region, service, when, canonicalRequest) {
  const date = when.slice(0, 8);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', when, scope, await sha256Hex(canonicalRequest)].join('\n');
  const key = await signingKey(creds.secretAccessKey, date, region, service);
  return { scope, signature: hex(await hmac(key, stringToSign)) };
}

/**
 * Signs an HTTP request with the Authorization header. Returns the headers
 * to send: the given ones plus X-Amz-Date, X-Amz-Security-Token (with a
 * session token) and Authorization. Host (taken from url, as the browser
 * will send it) and every given header are signed.
 *
 * @param {object} req
 * @param {string} req.method
 * @param {string} req.url absolute URL
 * @param {Object<string,string>} [req.headers]
 * @param {string} [req.body]
 * @param {string} req.region
 * @param {string} [req.service] defaults to SERVICE
 * @param {{accessKeyId:string, secretAccessKey:string, sessionToken?:string}} req.credentials
 * @param {Date} [req.date] defaults to now
 */
export async function signRequest({ method, url, headers = {}, body = '', region, service = SERVICE, credentials, date = new Date() }) {
  const u = new URL(url);
  const when = amzDate(date);
  const out = { ...headers, 'X-Amz-Date': when };
  if (credentials.sessionToken) out['X-Amz-Security-Token'] = credentials.sessionToken;
  const canon = { host: u.host };
  for (const [k, v] of Object.entries(out)) canon[k.toLowerCase()] = String(v).trim().replace(/\s+/g, ' ');
  const names = Object.keys(canon).sort();
  const signedHeaders = names.join(';');
  const query = canonicalQuery([...u.searchParams]);
  const canonicalRequest = [
    method.toUpperCase(), canonicalURI(u.pathname), query,
    names.map((n) => `${n}:${canon[n]}\n`).join(''), signedHeaders, await sha256Hex(body),
  ].join('\n');
  const { scope, signature: sig } = await signature(credentials, region, service, when, canonicalRequest);
  out.Authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${sig}`;
  return out;
}

/**
 * Presigns a URL for a GET (the KVS signaling WebSocket): host is the only
 * signed header, the session token is part of the signed query (KVS
 * requires it there), the payload hash is that of the empty body.
 *
 * @param {object} req
 * @param {string} req.url absolute URL, e.g. wss://host:port/?X-Amz-ChannelARN=...
 * @param {string} req.region
 * @param {string} [req.service] defaults to SERVICE
 * @param {{accessKeyId:string, secretAccessKey:string, sessionToken?:string}} req.credentials
 * @param {number} [req.expires] seconds, defaults to 299 (as the KVS JS SDK)
 * @param {Date} [req.date] defaults to now
 * @returns {Promise<string>} the presigned URL
 */
export async function presignURL({ url, region, service = SERVICE, credentials, expires = 299, date = new Date() }) {
  const u = new URL(url);
  const when = amzDate(date);
  const params = [...u.searchParams];
  params.push(
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${credentials.accessKeyId}/${when.slice(0, 8)}/${region}/${service}/aws4_request`],
    ['X-Amz-Date', when],
    ['X-Amz-Expires', String(expires)],
    ['X-Amz-SignedHeaders', 'host'],
  );
  if (credentials.sessionToken) params.push(['X-Amz-Security-Token', credentials.sessionToken]);
  const query = canonicalQuery(params);
  const canonicalRequest = ['GET', canonicalURI(u.pathname), query, `host:${u.host}\n`, 'host', EMPTY_SHA256].join('\n');
  const { signature: sig } = await signature(credentials, region, service, when, canonicalRequest);
  return `${u.protocol}//${u.host}${u.pathname || '/'}?${query}&X-Amz-Signature=${sig}`;
}
