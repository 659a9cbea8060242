// An OpenID provider for the CLI latency benchmark: oidc-provider (the
// copy tests/interop installs) on 127.0.0.1, with one confidential client
// "bench" that oidc-agent can hold tokens for.
//
//   node bench/oidc-agent-provider.mjs --port-file F --rt-file F [--ttl S]
//
// oidc-agent obtains tokens by the code, device, password or refresh flow,
// never by client_credentials, and a code or device flow needs a person at
// a login page. So the provider mints a refresh token for "bench" itself,
// at start-up, and writes it to --rt-file; `oidc-gen --rt-env` then sets up
// the account by the refresh flow with no prompt. Access tokens live --ttl
// seconds (default 3600), so the benchmark's calls are served from the
// agent's cache, as crvs-token's are from the daemon's.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = {};
while (args.length) {
	const k = args.shift().replace(/^--/, '');
	opt[k] = args.shift();
}
const modules = opt['node-modules'] ?? path.join(here, '../tests/interop/node_modules');
const { default: Provider } = await import(path.join(modules, 'oidc-provider/lib/index.js'));
const ttl = Number(opt.ttl ?? 3600);

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
	clients: [{
		client_id: 'bench',
		client_secret: 'bench-secret',
		grant_types: ['authorization_code', 'refresh_token'],
		response_types: ['code'],
		redirect_uris: ['http://localhost:4242/'],
		token_endpoint_auth_method: 'client_secret_basic',
	}],
	scopes: ['openid', 'offline_access'],
	features: { devInteractions: { enabled: false } },
	ttl: { AccessToken: ttl, RefreshToken: 86400 },
	rotateRefreshToken: false,
	cookies: { keys: ['bench-cookie-key'] },
});
server.on('request', provider.callback());

// The grant and refresh token a login and consent would have produced.
const client = await provider.Client.find('bench');
const grant = new provider.Grant({ accountId: 'bench-user', clientId: 'bench' });
grant.addOIDCScope('openid offline_access');
const grantId = await grant.save();
const rt = await new provider.RefreshToken({
	client,
	accountId: 'bench-user',
	grantId,
	scope: 'openid offline_access',
	gty: 'authorization_code',
	authTime: Math.floor(Date.now() / 1000),
}).save();

function publish(file, text) {
	fs.writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
	fs.renameSync(`${file}.tmp`, file);
}
publish(opt['rt-file'], `${rt}\n`);
publish(opt['port-file'], `${port}\n`);
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => process.exit(0));
