import { z } from 'zod';
import { isFerryError } from '../../errors.js';
import { parseImageReference } from '../../oci/reference.js';

/** A string that must be an image reference: the issue says why not (shared by the manifest and the lock). */
export const ImageRefString = z.string().superRefine((value, ctx) => {
  try {
    parseImageReference(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: isFerryError(err) ? err.message.replace(/^"[^"]*": /, '') : String(err) });
  }
});
