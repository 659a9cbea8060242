// node verify-jwt.mjs JWKS ISSUER < TOKEN: verifies an RS256 access token
// against the server's JWKS (a URL, or file:PATH for a saved copy), its
// issuer and exp (jose, as a resource server would). Prints the seconds it
// has left; exits 0 if valid, 1 if not. The JWKS may take long to come on
// a loaded machine: 30 s, not jose's 5 s.
import fs from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify } from 'jose';

const [jwksUrl, issuer] = process.argv.slice(2);
const token = fs.readFileSync(0, 'utf8').trim();
try {
	const jwks = jwksUrl.startsWith('file:')
		? createLocalJWKSet(JSON.parse(fs.readFileSync(jwksUrl.slice(5), 'utf8')))
		: createRemoteJWKSet(new URL(jwksUrl), { timeoutDuration: 30000 });
	const { payload } = await jwtVerify(token, jwks, { issuer, clockTolerance: 0 });
	console.log(`valid, ${payload.exp - Math.floor(Date.now() / 1000)} s left, scope=${payload.scope ?? ''}`);
	process.exit(0);
} catch (e) {
	console.log(`invalid: ${e.code ?? ''} ${e.message}`);
	process.exit(1);
}
