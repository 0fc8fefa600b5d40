/* Photos for a report, on any page: taken or picked, shrunk on the phone, turned upright, their EXIF (time, GPS) kept. */

const MAX_SIDE = 2048, JPEG_QUALITY = 0.85, SMALL_PHOTO_BYTES = 1024 * 1024;

/** The photos of one report being made: each shrunk as it is added; `onchange` is called whenever one changes. */
export class PhotoSet {
  constructor({ max = Infinity, onchange = () => {} } = {}) {
    this.max = max;
    this.onchange = onchange;
    this.slots = [];  // {blob, url, ready}: url and blob are null while the photo is being shrunk
  }

  get count() { return this.slots.length; }

  /** Add the files picked (those past the limit are left out); the number left out. */
  add(files) {
    let left = 0;
    Array.from(files).forEach((file) => {
      if (this.slots.length >= this.max) { left += 1; return; }
      const slot = { blob: null, url: null };
      slot.ready = shrinkPhoto(file).catch(() => file).then((blob) => {
        if (!this.slots.includes(slot)) { return; }  // removed while it was being shrunk
        slot.blob = blob;
        slot.url = URL.createObjectURL(blob);
        this.onchange();
      });
      this.slots.push(slot);
    });
    this.onchange();
    return left;
  }

  remove(slot) {
    this.slots = this.slots.filter((s) => s !== slot);
    if (slot.url) { URL.revokeObjectURL(slot.url); }
    this.onchange();
  }

  /** The photos' blobs, once each has been shrunk (or kept as it was). */
  blobs() { return Promise.all(this.slots.map((slot) => slot.ready.then(() => slot.blob))); }

  /** Put these blobs back (a refused report given back to mend). */
  set(blobs) {
    this.clear(true);
    this.slots = blobs.map((blob) => ({ blob, url: URL.createObjectURL(blob), ready: Promise.resolve() }));
    this.onchange();
  }

  clear(quietly) {
    this.slots.forEach((slot) => { if (slot.url) { URL.revokeObjectURL(slot.url); } });
    this.slots = [];
    if (!quietly) { this.onchange(); }
  }
}

/** A photo no larger than MAX_SIDE on its long side as a JPEG, turned upright; small photos go as they are. */
export async function shrinkPhoto(file) {
  const picture = await decodeUpright(file);
  const width = picture.naturalWidth || picture.width, height = picture.naturalHeight || picture.height;
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  if (scale === 1 && file.size <= SMALL_PHOTO_BYTES) {
    if (picture.close) { picture.close(); }
    return file;
  }
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const context = canvas.getContext("2d");
  context.imageSmoothingQuality = "high";
  context.drawImage(picture, 0, 0, canvas.width, canvas.height);
  if (picture.close) { picture.close(); }
  const jpeg = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
  if (!jpeg || jpeg.size >= file.size) { return file; }
  return withExifOf(file, jpeg);
}

/** The photo decoded and turned by its EXIF orientation: an ImageBitmap, or an <img> where that is not offered. */
async function decodeUpright(file) {
  try {
    return await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (e) {
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(file), img = new Image();
      img.onload = () => { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = () => { URL.revokeObjectURL(url); reject(new Error("not a picture this phone can read")); };
      img.src = url;
    });
  }
}

/** The new JPEG with the original's EXIF block (time taken, GPS), its Orientation set to 1: already upright. */
async function withExifOf(original, jpeg) {
  try {
    const head = new DataView(await original.slice(0, 256 * 1024).arrayBuffer());
    const exif = exifSegment(head);
    if (!exif) { return jpeg; }
    markUpright(exif);
    return new Blob([jpeg.slice(0, 2), exif, jpeg.slice(2)], { type: "image/jpeg" });
  } catch (e) {
    return jpeg;  // a broken EXIF block is simply left behind
  }
}

function exifSegment(view) {
  if (view.getUint16(0) !== 0xFFD8) { return null; }
  for (let at = 2; at + 4 <= view.byteLength;) {
    const marker = view.getUint16(at), length = view.getUint16(at + 2);
    if ((marker & 0xFF00) !== 0xFF00 || marker === 0xFFDA) { return null; }
    if (marker === 0xFFE1 && view.getUint32(at + 4) === 0x45786966 && at + 2 + length <= view.byteLength) {
      return new DataView(view.buffer.slice(at, at + 2 + length));
    }
    at += 2 + length;
  }
  return null;
}

function markUpright(segment) {
  const tiff = 10, little = segment.getUint16(tiff) === 0x4949;
  const ifd = tiff + segment.getUint32(tiff + 4, little);
  const entries = segment.getUint16(ifd, little);
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + 12 * i;
    if (segment.getUint16(entry, little) === 0x0112) { segment.setUint16(entry + 8, 1, little); }
  }
}
