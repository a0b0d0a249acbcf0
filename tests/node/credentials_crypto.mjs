// The Node service's `server/utils/credentialsCrypto.js`, in each variant it plausibly had:
// how the key came from its environment variable (docs/ciphertext-format.md "Legacy keys"),
// the IV length, and the `Buffer` encoding of the three parts. Only Node's own `crypto`.
//
// tests/unit/test_node_interop.py runs it: a JSON request on stdin, a JSON answer on stdout.
//   {"op": "encrypt", "cases": [{"key": {...}, "ivLength": 16, "encoding": "hex", "value": ...}]}
//     -> {"results": ["<iv>:<tag>:<ciphertext>", ...]}
//   {"op": "decrypt", "cases": [{"key": {...}, "encoding": "hex", "token": "..."}]}
//     -> {"results": [{"value": ...} | {"error": "<message>"}, ...]}
// where key = {"derivation": "...", "secret": "...", "salt": "...", "iterations": n}.
import crypto from 'node:crypto';

// How a Node service turns `process.env.CREDENTIALS_ENCRYPTION_KEY` into a key.
function deriveKey({ derivation, secret, salt, iterations }) {
  switch (derivation) {
    case 'hex':
      return Buffer.from(secret, 'hex');
    case 'base64':
      return Buffer.from(secret, 'base64'); // also unpadded and URL-safe
    case 'raw':
      return secret; // a string key: createCipheriv takes its UTF-8 bytes
    case 'raw-prefix':
      return Buffer.from(secret, 'utf8').subarray(0, 32);
    case 'sha256':
      return crypto.createHash('sha256').update(secret).digest();
    case 'sha256-base64-32':
      return crypto.createHash('sha256').update(String(secret)).digest('base64').substr(0, 32);
    case 'sha256-hex-32':
      return crypto.createHash('sha256').update(String(secret)).digest('hex').substr(0, 32);
    case 'scrypt':
      return iterations
        ? crypto.scryptSync(secret, salt, 32, { N: iterations })
        : crypto.scryptSync(secret, salt, 32);
    case 'pbkdf2-sha256':
      return crypto.pbkdf2Sync(secret, salt, iterations, 32, 'sha256');
    case 'pbkdf2-sha512':
      return crypto.pbkdf2Sync(secret, salt, iterations, 32, 'sha512');
    default:
      throw new Error(`unknown derivation ${derivation}`);
  }
}

function toText(buffer, encoding) {
  if (encoding === 'base64-unpadded') return buffer.toString('base64').replace(/=+$/, '');
  return buffer.toString(encoding);
}

export function encryptJSON(value, key, ivLength = 12, encoding = 'base64') {
  const iv = crypto.randomBytes(ivLength);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [iv, tag, ciphertext].map((part) => toText(part, encoding)).join(':');
}

// The service reads in the encoding it writes (Node's 'base64' decoder also takes missing
// padding and the URL-safe alphabet).
export function decryptJSON(token, key, encoding = 'base64') {
  const parts = token.split(':');
  if (parts.length !== 3) throw new Error('Invalid encrypted format');
  const decoding = encoding === 'base64-unpadded' ? 'base64' : encoding;
  const [iv, tag, ciphertext] = parts.map((part) => Buffer.from(part, decoding));
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  return JSON.parse(plaintext.toString('utf8'));
}

function answer(request) {
  if (request.op === 'encrypt') {
    return request.cases.map((c) => encryptJSON(c.value, deriveKey(c.key), c.ivLength, c.encoding));
  }
  if (request.op === 'decrypt') {
    return request.cases.map((c) => {
      try {
        return { value: decryptJSON(c.token, deriveKey(c.key), c.encoding) };
      } catch (error) {
        return { error: String(error.message) };
      }
    });
  }
  throw new Error(`unknown op ${request.op}`);
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
process.stdout.write(JSON.stringify({ results: answer(JSON.parse(Buffer.concat(chunks))) }));
