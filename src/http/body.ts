import coBody from 'co-body';
import type { Context } from 'koa';
import { HttpError } from './errors.js';

/** JSON or form body of one of palmid's own endpoints, within the configured size limit. */
export async function readBody(ctx: Context, limitBytes: number): Promise<Record<string, unknown>> {
  try {
    const body = ctx.is('application/json')
      ? await coBody.json(ctx.req, { limit: limitBytes, strict: true })
      : ctx.is('application/x-www-form-urlencoded')
        ? await coBody.form(ctx.req, { limit: limitBytes })
        : {};
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new HttpError(400, 'invalid_request', 'expected a JSON object');
    return body as Record<string, unknown>;
  } catch (err) {
    if (err instanceof HttpError) throw err;
    const status = (err as { status?: number }).status;
    if (status === 413) throw new HttpError(413, 'invalid_request', 'request body too large');
    throw new HttpError(400, 'invalid_request', 'malformed request body');
  }
}

/** A camera frame sent as the raw body (image/jpeg or image/png), within the size limit. */
export async function readImageBody(ctx: Context, limitBytes: number): Promise<Buffer> {
  if (!ctx.is('image/jpeg', 'image/png'))
    throw new HttpError(415, 'invalid_request', 'send the camera frame as image/jpeg or image/png');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) {
      for (const c of chunks) c.fill(0);
      throw new HttpError(413, 'invalid_request', `the image is larger than ${limitBytes} bytes: send a smaller JPEG`);
    }
    chunks.push(chunk);
  }
  if (size === 0) throw new HttpError(400, 'invalid_request', 'no image in the request');
  const image = Buffer.concat(chunks);
  for (const c of chunks) c.fill(0);
  return image;
}
