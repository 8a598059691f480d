import { PalmidError } from '../errors.js';

type WebauthnErrorCode = 'invalid_request' | 'invalid_invitation' | 'passkey_rejected' | 'unknown_passkey';

const STATUS: Record<WebauthnErrorCode, number> = {
  invalid_request: 400,
  invalid_invitation: 410,
  passkey_rejected: 401,
  unknown_passkey: 401,
};

/** A ceremony failure with an OAuth-style error code and a message safe to show a person. */
export class WebauthnError extends PalmidError {
  declare readonly code: WebauthnErrorCode;
  constructor(code: WebauthnErrorCode, message: string) {
    super(message, { code, status: STATUS[code] });
  }
}
