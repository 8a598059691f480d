import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Encoder } from 'cbor-x';

// Canonical-enough CBOR for WebAuthn parsers: minimal map lengths, plain byte strings, no tags.
const cbor = new Encoder({
  useRecords: false,
  variableMapSize: true,
  tagUint8Array: false,
  useTag259ForMaps: false,
} as ConstructorParameters<typeof Encoder>[0]);
const encode = (value: unknown) => cbor.encode(value);

/**
 * A software WebAuthn authenticator (packed "none" attestation, ES256) for tests that drive the
 * passkey ceremonies over plain HTTP. It can misbehave on purpose: a wrong origin, no user
 * verification, a counter that goes backwards.
 */
export interface AuthenticatorOptions {
  /** Set the UV flag (user verified). */
  userVerified?: boolean;
  /** Report a synced (multi-device) credential: BE and BS flags. */
  synced?: boolean;
}

interface Credential {
  id: Buffer;
  privateKey: KeyObject;
  rpId: string;
  userHandle: string;
  signCount: number;
}

const b64u = (b: Buffer | Uint8Array) => Buffer.from(b).toString('base64url');

export class SoftAuthenticator {
  readonly credentials: Credential[] = [];
  constructor(private readonly options: AuthenticatorOptions = {}) {}

  private flags(attested: boolean, uv = this.options.userVerified ?? true): number {
    let f = 0x01; // user present
    if (uv) f |= 0x04;
    if (this.options.synced) f |= 0x08 | 0x10;
    if (attested) f |= 0x40;
    return f;
  }

  /** navigator.credentials.create(), given the server's PublicKeyCredentialCreationOptionsJSON. */
  create(
    options: { challenge: string; rp: { id?: string }; user: { id: string } },
    origin: string,
    overrides: { userVerified?: boolean } = {},
  ) {
    const rpId = options.rp.id ?? new URL(origin).hostname;
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const id = randomBytes(32);
    const cose = encode(
      new Map<number, unknown>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const authData = Buffer.concat([
      createHash('sha256').update(rpId).digest(),
      Buffer.from([this.flags(true, overrides.userVerified)]),
      Buffer.alloc(4),
      Buffer.alloc(16), // AAGUID
      idLength,
      id,
      cose,
    ]);
    const clientDataJSON = Buffer.from(
      JSON.stringify({ type: 'webauthn.create', challenge: options.challenge, origin, crossOrigin: false }),
    );
    const attestationObject = encode({ fmt: 'none', attStmt: {}, authData });
    this.credentials.push({ id, privateKey, rpId, userHandle: options.user.id, signCount: 0 });
    return {
      id: b64u(id),
      rawId: b64u(id),
      type: 'public-key',
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        attestationObject: b64u(attestationObject),
        transports: ['internal'],
      },
    };
  }

  /** navigator.credentials.get() for a discoverable credential. */
  get(
    options: { challenge: string; rpId?: string },
    origin: string,
    overrides: { userVerified?: boolean; signCount?: number; credential?: number } = {},
  ) {
    const rpId = options.rpId ?? new URL(origin).hostname;
    const cred = this.credentials[overrides.credential ?? this.credentials.length - 1];
    if (!cred) throw new Error('no credential registered in this authenticator');
    cred.signCount = overrides.signCount ?? cred.signCount + 1;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(cred.signCount);
    const authData = Buffer.concat([
      createHash('sha256').update(rpId).digest(),
      Buffer.from([this.flags(false, overrides.userVerified)]),
      counter,
    ]);
    const clientDataJSON = Buffer.from(
      JSON.stringify({ type: 'webauthn.get', challenge: options.challenge, origin, crossOrigin: false }),
    );
    const signature = sign(
      'sha256',
      Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]),
      cred.privateKey,
    );
    return {
      id: b64u(cred.id),
      rawId: b64u(cred.id),
      type: 'public-key',
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
      response: {
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authData),
        signature: b64u(signature),
        userHandle: cred.userHandle,
      },
    };
  }
}
