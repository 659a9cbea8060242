#!/usr/bin/env node
// Get a token from crvs-tokend over its Unix socket (http.request with
// socketPath; no package needed), then call the OpenCRVS API with it.
//
//   node token.js URL [CLIENT]
//
// The socket is $CRVS_TOKEND_SOCKET, else /run/crvs-tokend/crvs-tokend.sock.
// Exit status as crvs-token(1): 75 when there is no valid token right now.
'use strict';
const http = require('http');
const https = require('https');

const socketPath = process.env.CRVS_TOKEND_SOCKET || '/run/crvs-tokend/crvs-tokend.sock';

function getToken(client, minValid = 60) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      socketPath,
      path: `/v1/clients/${encodeURIComponent(client)}/token?min_valid=${minValid}`,
      timeout: 15000,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => {
        try {
          const answer = JSON.parse(body);
          if (res.statusCode === 200) resolve(answer.access_token);
          // {"error": CODE, "message": "..."}: never a token.
          else reject(new Error(`crvs-tokend: ${res.statusCode} ${answer.error}: ${answer.message}`));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('crvs-tokend: timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function main() {
  const url = new URL(process.argv[2]);
  const client = process.argv[3] || process.env.CRVS_CLIENT || 'dhis2';
  let token;
  try {
    token = await getToken(client);
  } catch (e) {
    console.error(e.message);
    return 75;
  }
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    lib.get(url, { headers: { Authorization: `Bearer ${token}` }, timeout: 30000 }, (res) => {
      res.pipe(process.stdout);
      res.on('end', () => resolve(res.statusCode >= 200 && res.statusCode < 300 ? 0 : 1));
    }).on('error', reject);
  });
}

main().then((rc) => { process.exitCode = rc; }, (e) => { console.error(e.message); process.exitCode = 1; });
