#!/usr/bin/env node
// Get a WeChat credential from wxcentral's token endpoint, and report a
// rejected one, with SigV4-signed HTTP calls (Node 18+: global fetch).
//
//   npm ci
//   WXCENTRAL_TOKEN_URL=https://abc.lambda-url.ap-east-1.on.aws/token \
//     node wxcentral-token.js get wx0123456789abcdef [KIND]
//   node wxcentral-token.js invalidate wx0123456789abcdef [KIND] < rejected-token
//
// WXCENTRAL_SIGNING_SERVICE: "lambda" for a Function URL (the default),
// "execute-api" for an HTTP API (the default when the host is
// *.execute-api.*). AWS_REGION when the host names no region. Credentials
// come from the SDK's default chain (env, profile, SSO, instance/task role).
// Prints the JSON answer; exit 0 on 200, 1 on an error answer.
'use strict';

const { SignatureV4 } = require('@smithy/signature-v4');
const { Sha256 } = require('@aws-crypto/sha256-js');
const { defaultProvider } = require('@aws-sdk/credential-provider-node');

class WxcentralError extends Error {
  constructor(status, code, message) {
    super(`${code} (HTTP ${status}): ${message}`);
    this.status = status;
    this.code = code; // unknown_app, token_unavailable, bad_request, force_*
    this.answer = { error: code, message };
  }
}

class TokenClient {
  constructor({ tokenUrl, service, region, credentials = defaultProvider() }) {
    let url = tokenUrl.replace(/\/+$/, '');
    if (!url.endsWith('/token')) url += '/token';
    this.tokenUrl = new URL(url);
    const host = this.tokenUrl.hostname;
    const fnUrl = host.match(/\.lambda-url\.([a-z0-9-]+)\.on\.aws$/);
    const httpApi = host.match(/\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/);
    // The endpoint's own region signs; region is for hosts that name none
    // (a custom domain, the local stack).
    region = (fnUrl || httpApi || [])[1] || region;
    if (!region) throw new Error('AWS_REGION: required when the token URL\'s host does not name a region');
    this.signer = new SignatureV4({
      service: service || (httpApi ? 'execute-api' : 'lambda'),
      region,
      credentials,
      sha256: Sha256,
    });
  }

  static fromEnv() {
    const tokenUrl = (process.env.WXCENTRAL_TOKEN_URL || '').trim();
    if (!tokenUrl) throw new Error('WXCENTRAL_TOKEN_URL: required (the stack\'s TokenUrl output)');
    return new TokenClient({
      tokenUrl,
      service: process.env.WXCENTRAL_SIGNING_SERVICE || undefined,
      region: process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || undefined,
    });
  }

  /** GET /token?appid=&kind=: the credential, or a WxcentralError. */
  get(appid, kind = 'access_token') {
    return this.call('GET', this.tokenUrl.pathname, { appid, kind }, undefined);
  }

  /** POST /token/invalidate: report a token WeChat rejected (40001, 40014,
   *  42001); answers the current credential after the forced refresh. */
  invalidate(appid, kind, token) {
    return this.call('POST', this.tokenUrl.pathname + '/invalidate', undefined, JSON.stringify({ appid, kind, token }));
  }

  async call(method, path, query, body) {
    const u = this.tokenUrl;
    const headers = { host: u.host };
    if (body !== undefined) headers['content-type'] = 'application/json';
    // The signature covers the method, path, query, host and body hash.
    const signed = await this.signer.sign({
      method, protocol: u.protocol, hostname: u.hostname, port: u.port ? Number(u.port) : undefined,
      path, query, headers, body,
    });
    // Encoded as SigV4 encodes it (RFC 3986), so the URL sent is the one signed.
    const qs = Object.entries(query || {}).map(([k, v]) => `${rfc3986(k)}=${rfc3986(v)}`).join('&');
    const target = `${u.origin}${path}${qs ? '?' + qs : ''}`;
    const resp = await fetch(target, { method, headers: signed.headers, body });
    const text = await resp.text();
    let answer = {};
    try { answer = JSON.parse(text); } catch { /* not JSON: a proxy's page */ }
    if (resp.ok) return answer;
    // Lambda or API Gateway answer a bad signature or a missing permission
    // with 403 {"Message"/"message": ...}.
    throw new WxcentralError(resp.status, answer.error || (resp.status === 403 ? 'forbidden' : 'http_error'),
      answer.message || answer.Message || text.slice(0, 200));
  }
}

function rfc3986(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

async function readStdinLine() {
  let data = '';
  for await (const chunk of process.stdin) data += chunk;
  return data.split('\n')[0].trim();
}

async function main(argv) {
  const [op, appid, kind = 'access_token'] = argv;
  if (!['get', 'invalidate'].includes(op) || !appid || argv.length > 3) {
    console.error('usage: wxcentral-token.js get APPID [KIND] | invalidate APPID [KIND] < rejected-token');
    return 2;
  }
  let client;
  try {
    client = TokenClient.fromEnv();
  } catch (err) {
    console.error(`wxcentral-token.js: ${err.message}`);
    return 2;
  }
  try {
    let answer;
    if (op === 'get') {
      answer = await client.get(appid, kind);
    } else {
      const token = await readStdinLine(); // never on the command line
      if (!token) {
        console.error('invalidate: give the rejected token on standard input');
        return 2;
      }
      answer = await client.invalidate(appid, kind, token);
    }
    console.log(JSON.stringify(answer));
    return 0;
  } catch (err) {
    if (err instanceof WxcentralError) console.log(JSON.stringify(err.answer));
    console.error(`wxcentral-token.js: ${err.message}`);
    return 1;
  }
}

module.exports = { TokenClient, WxcentralError };

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
