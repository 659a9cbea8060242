// Third-party OAuth 2.0 servers for tests/interop/oauth2-servers.sh, on
// loopback:
//   node servers.mjs oidc --port N --port-file F --ttl S --secret S --control F
//   node servers.mjs mock --port N --port-file F --ttl S --control F
// oidc: oidc-provider with the client_credentials grant, introspection, the
//   clients crvs-basic (client_secret_basic, scopes crvs:read crvs:write) and
//   crvs-post (client_secret_post, scope crvs:read); opaque access tokens
//   that live --ttl seconds.
// mock: oauth2-mock-server; RS256 JWT access tokens whose exp (and
//   expires_in) are --ttl seconds; its JWKS is at /jwks.
// The control file, read at every token request, switches a fault on:
//   "ok" (or absent), "status 503", "status 401", "status 500"; a line
//   "ttl S" gives the tokens issued from then on another lifetime.
import fs from 'node:fs';
import http from 'node:http';

const args = process.argv.slice(2);
const kind = args.shift();
const opt = {};
while (args.length) {
	const k = args.shift().replace(/^--/, '');
	opt[k] = args.shift();
}
const port = Number(opt.port ?? 0);
const ttl = Number(opt.ttl ?? 15);
const secret = opt.secret ?? 'interop-secret';

function control() {
	try {
		return fs.readFileSync(opt.control, 'utf8');
	} catch {
		return 'ok';	// no control file: ok
	}
}

function fault() {
	const m = /^status (\d{3})$/m.exec(control());
	return m ? Number(m[1]) : 0;
}

// The lifetime of a token issued now.
function currentTtl() {
	const m = /^ttl (\d+)$/m.exec(control());
	return m ? Number(m[1]) : ttl;
}

function ready(p) {
	if (opt['port-file']) {
		fs.writeFileSync(`${opt['port-file']}.tmp`, `${p}\n`);
		fs.renameSync(`${opt['port-file']}.tmp`, opt['port-file']);
	}
	console.error(`${kind}: listening on 127.0.0.1:${p}`);
}

function faultBody(status) {
	return {
		error: status === 401 ? 'invalid_client' : 'temporarily_unavailable',
		error_description: `simulated ${status}`,
	};
}

if (kind === 'oidc') {
	const { default: Provider } = await import('oidc-provider');
	const server = http.createServer();
	await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
	const p = server.address().port;
	const provider = new Provider(`http://127.0.0.1:${p}`, {
		clients: [
			{
				client_id: 'crvs-basic',
				client_secret: secret,
				grant_types: ['client_credentials'],
				response_types: [],
				redirect_uris: [],
				token_endpoint_auth_method: 'client_secret_basic',
				scope: 'crvs:read crvs:write',
			},
			{
				client_id: 'crvs-post',
				client_secret: secret,
				grant_types: ['client_credentials'],
				response_types: [],
				redirect_uris: [],
				token_endpoint_auth_method: 'client_secret_post',
				scope: 'crvs:read',
			},
		],
		features: {
			clientCredentials: { enabled: true },
			introspection: { enabled: true },
			devInteractions: { enabled: false },
		},
		scopes: ['openid', 'crvs:read', 'crvs:write'],
		ttl: { ClientCredentials: () => currentTtl() },
		cookies: { keys: ['interop-test-cookie-key'] },
	});
	provider.use(async (ctx, next) => {
		const status = ctx.path === '/token' ? fault() : 0;
		if (status) {
			ctx.status = status;
			ctx.body = faultBody(status);
			console.error(`${kind}: POST /token -> simulated ${status}`);
			return;
		}
		await next();
		if (ctx.path === '/token')
			console.error(`${kind}: POST /token -> ${ctx.status}`);
	});
	server.on('request', provider.callback());
	ready(p);
} else if (kind === 'mock') {
	const { OAuth2Server } = await import('oauth2-mock-server');
	const server = new OAuth2Server();
	await server.issuer.keys.generate('RS256');
	server.service.on('beforeTokenSigning', (token) => {
		const now = Math.floor(Date.now() / 1000);
		token.payload.iat = now;
		token.payload.exp = now + currentTtl();
	});
	server.service.on('beforeResponse', (res) => {
		const status = fault();
		if (status) {
			res.statusCode = status;
			res.body = faultBody(status);
			console.error(`${kind}: POST /token -> simulated ${status}`);
			return;
		}
		res.body.expires_in = currentTtl();
		console.error(`${kind}: POST /token -> ${res.statusCode}`);
	});
	await server.start(port, '127.0.0.1');
	server.issuer.url = `http://127.0.0.1:${server.address().port}`;
	ready(server.address().port);
} else {
	console.error('usage: node servers.mjs oidc|mock [--port N] [--port-file F] [--ttl S] [--secret S] [--control F]');
	process.exit(64);
}

for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => process.exit(0));
