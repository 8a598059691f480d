/** A ceremony failure with an OAuth-style error code and a message safe to show a person. */
export class WebauthnError extends Error {
  override name = 'WebauthnError';
  constructor(
    readonly code: 'invalid_request' | 'invalid_invitation' | 'passkey_rejected' | 'unknown_passkey',
    message: string,
  ) {
    super(message);
  }
}
