#!/usr/bin/env node
// A fault-injecting HTTP proxy for pgbk's S3 tests (Node, no dependencies).
//
//   node fault-proxy.js LISTEN_PORT TARGET_HOST:PORT CONTROL_PORT
//
// Requests are forwarded unchanged (Host header included, so SigV4 still verifies)
// unless a rule matches. Rules are set on the control port:
//   PUT /rules   [{"method": "PUT", "path": "partNumber", "action": "status",
//                  "status": 503, "code": "SlowDown", "times": 3, "skip": 0}, ...]
//   DELETE /rules, GET /log (what was injected, one JSON object per line)
// Actions: "status" answers with an S3 error document; "reset" destroys the client
// connection after "after_bytes" bytes of the request body; "delay" holds the request
// "ms" milliseconds before forwarding; "truncate" forwards but cuts the response body
// after "after_bytes" bytes and drops the connection; "refuse" drops it at once.
// "path" is a substring of the URL (path and query); "times" defaults to 1.
'use strict';
const http = require('http');

const [listenPort, target, controlPort] = process.argv.slice(2);
const [targetHost, targetPort] = target.split(':');
let rules = [];
const log = [];

function match(req) {
  for (const r of rules) {
    if (r.method && r.method !== req.method) continue;
    if (r.path && !req.url.includes(r.path)) continue;
    if ((r.skip || 0) > 0) { r.skip--; continue; }
    if ((r.times === undefined ? 1 : r.times) <= 0) continue;
    if (r.times === undefined) r.times = 1;
    r.times--;
    log.push({ time: Date.now(), method: req.method, url: req.url, action: r.action });
    return r;
  }
  return null;
}

function forward(req, res, rule) {
  const up = http.request({ host: targetHost, port: targetPort, method: req.method, path: req.url,
                            headers: req.headers }, (ures) => {
    res.writeHead(ures.statusCode, ures.headers);
    if (rule && rule.action === 'truncate') {
      let sent = 0;
      ures.on('data', (chunk) => {
        const room = rule.after_bytes - sent;
        if (room > 0) res.write(chunk.subarray(0, room));
        sent += chunk.length;
        if (sent >= rule.after_bytes) { ures.destroy(); res.socket.destroy(); }
      });
      ures.on('end', () => res.end());
    } else {
      ures.pipe(res);
    }
  });
  up.on('error', () => res.socket && res.socket.destroy());
  let received = 0;
  req.on('data', (chunk) => {
    received += chunk.length;
    if (rule && rule.action === 'reset' && received >= (rule.after_bytes || 0)) {
      up.destroy();
      req.socket.destroy();
      return;
    }
    up.write(chunk);
  });
  req.on('end', () => up.end());
}

http.createServer((req, res) => {
  const rule = match(req);
  if (!rule) return forward(req, res, null);
  switch (rule.action) {
    case 'status': {
      req.resume();
      const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${rule.code || 'InternalError'}</Code>` +
                   `<Message>injected by fault-proxy</Message></Error>`;
      const headers = { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body) };
      if (rule.retry_after !== undefined) headers['Retry-After'] = String(rule.retry_after);
      res.writeHead(rule.status || 500, headers);
      return res.end(body);
    }
    case 'refuse':
      return req.socket.destroy();
    case 'delay':
      return setTimeout(() => forward(req, res, null), rule.ms || 1000);
    case 'reset':
      if (!(rule.after_bytes > 0)) return req.socket.destroy();
      return forward(req, res, rule);
    case 'truncate':
      return forward(req, res, rule);
    default:
      return forward(req, res, null);
  }
}).listen(Number(listenPort), '127.0.0.1');

http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    if (req.method === 'PUT' && req.url === '/rules') {
      try { rules = JSON.parse(body); } catch (e) { res.writeHead(400); return res.end(String(e)); }
      res.writeHead(200);
      return res.end('ok');
    }
    if (req.method === 'DELETE' && req.url === '/rules') { rules = []; res.writeHead(200); return res.end('ok'); }
    if (req.method === 'GET' && req.url === '/log') {
      res.writeHead(200);
      return res.end(log.map((l) => JSON.stringify(l)).join('\n') + '\n');
    }
    res.writeHead(404);
    res.end();
  });
}).listen(Number(controlPort), '127.0.0.1');
