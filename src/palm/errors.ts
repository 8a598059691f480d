/** The engine's errors: why an image or a stored template was refused. */
import { INTERNAL, PalmidError, invalidRequest } from '../errors.js';

/** Why an image was rejected. Every rejection carries exactly one of these codes. */
export type PalmImageErrorReason =
  | 'unsupported_format' // not PNG, JPEG or BMP, or a variant we do not decode (e.g. RLE BMP)
  | 'truncated' // the file ends before its image data does
  | 'corrupt' // the header is valid but the data cannot be decoded
  | 'too_large' // over the byte or pixel limit (decompression bombs included)
  | 'too_small' // fewer pixels than a palm needs
  | 'too_dark' // under-exposed
  | 'too_bright' // over-exposed / saturated
  | 'low_contrast' // flat image, nothing to read
  | 'too_blurred' // out of focus (or motion-blurred too far to tell which)
  | 'motion_blur' // detail lost along one direction: the hand or the camera moved
  | 'rotated' // the palm is turned away from the normalised orientation
  | 'partial_palm' // part of the crop is not palm: a sleeve, a cuff, the background
  | 'fingers_in_view' // fingers over or beside the palm in the crop
  | 'no_hand' // whole-hand mode: no hand, or no usable palm, found
  | 'back_of_hand'; // whole-hand mode: the back of the hand faces the camera

export class PalmImageError extends PalmidError {
  constructor(
    readonly reason: PalmImageErrorReason,
    message: string,
  ) {
    super(message, invalidRequest());
  }
}

export type PalmTemplateErrorReason = 'bad_magic' | 'unsupported_version' | 'truncated' | 'incompatible';

/** A template that cannot be read or compared: corrupt or mismatched stored data, never the caller's input. */
export class PalmTemplateError extends PalmidError {
  constructor(
    readonly reason: PalmTemplateErrorReason,
    message: string,
  ) {
    super(message, INTERNAL);
  }
}
