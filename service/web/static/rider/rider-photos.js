/* The rider's photos: taken or picked, shrunk on the phone, turned upright, their EXIF (time taken, GPS) kept. */
(function (Snap) {
  "use strict";

  var $ = Snap.$, el = Snap.el, t = Snap.t, notice = Snap.notice;
  var MAX_PHOTOS = 4, MAX_SIDE = 2048, JPEG_QUALITY = 0.85, SMALL_PHOTO_BYTES = 1024 * 1024;

  var photos = [];  // {blob, url, ready}

  function addPhotos(input) {
    Array.from(input.files).forEach(function (file) {
      if (photos.length >= MAX_PHOTOS) {
        notice(t("photo_limit", { n: MAX_PHOTOS }), "warn", { id: "photo-limit" });
        return;
      }
      var slot = { blob: null, url: null };
      slot.ready = shrinkPhoto(file).catch(function () { return file; }).then(function (blob) {
        slot.blob = blob;
        slot.url = URL.createObjectURL(blob);
        renderPreviews();
      });
      photos.push(slot);
    });
    input.value = "";
    renderPreviews();
  }

  function removePhoto(slot) {
    photos = photos.filter(function (p) { return p !== slot; });
    if (slot.url) { URL.revokeObjectURL(slot.url); }
    renderPreviews();
  }

  function renderPreviews() {
    var list = $("previews");
    list.replaceChildren.apply(list, photos.map(function (slot, i) {
      var picture = slot.url ? el("img", { src: slot.url, alt: "" + (i + 1) }) : el("span", { className: "busy", text: t("shrinking") + "…" });
      return el("li", {}, [picture, el("button", { type: "button", "aria-label": t("remove_photo"), onclick: function () { removePhoto(slot); } })]);
    }));
    $("photo-count").textContent = photos.length + "/" + MAX_PHOTOS;
  }

  /** A photo no larger than MAX_SIDE on its long side as a JPEG, turned upright; small photos go as they are. */
  async function shrinkPhoto(file) {
    var picture = await decodeUpright(file);
    var width = picture.naturalWidth || picture.width, height = picture.naturalHeight || picture.height;
    var scale = Math.min(1, MAX_SIDE / Math.max(width, height));
    if (scale === 1 && file.size <= SMALL_PHOTO_BYTES) {
      if (picture.close) { picture.close(); }
      return file;
    }
    var canvas = document.createElement("canvas");
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    var context = canvas.getContext("2d");
    context.imageSmoothingQuality = "high";
    context.drawImage(picture, 0, 0, canvas.width, canvas.height);
    if (picture.close) { picture.close(); }
    var jpeg = await new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", JPEG_QUALITY); });
    if (!jpeg || jpeg.size >= file.size) { return file; }
    return withExifOf(file, jpeg);
  }

  /** The photo decoded and turned by its EXIF orientation: an ImageBitmap, or an <img> where that is not offered. */
  async function decodeUpright(file) {
    try {
      return await createImageBitmap(file, { imageOrientation: "from-image" });
    } catch (e) {
      return new Promise(function (resolve, reject) {
        var url = URL.createObjectURL(file), img = new Image();
        img.onload = function () { URL.revokeObjectURL(url); resolve(img); };
        img.onerror = function () { URL.revokeObjectURL(url); reject(new Error("not a picture this phone can read")); };
        img.src = url;
      });
    }
  }

  /** The new JPEG with the original's EXIF block (time taken, GPS), its Orientation set to 1: already upright. */
  async function withExifOf(original, jpeg) {
    try {
      var head = new DataView(await original.slice(0, 256 * 1024).arrayBuffer());
      var exif = exifSegment(head);
      if (!exif) { return jpeg; }
      markUpright(exif);
      return new Blob([jpeg.slice(0, 2), exif, jpeg.slice(2)], { type: "image/jpeg" });
    } catch (e) {
      return jpeg;  // a broken EXIF block is simply left behind
    }
  }

  function exifSegment(view) {
    if (view.getUint16(0) !== 0xFFD8) { return null; }
    for (var at = 2; at + 4 <= view.byteLength;) {
      var marker = view.getUint16(at), length = view.getUint16(at + 2);
      if ((marker & 0xFF00) !== 0xFF00 || marker === 0xFFDA) { return null; }
      if (marker === 0xFFE1 && view.getUint32(at + 4) === 0x45786966 && at + 2 + length <= view.byteLength) {
        return new DataView(view.buffer.slice(at, at + 2 + length));
      }
      at += 2 + length;
    }
    return null;
  }

  function markUpright(segment) {
    var tiff = 10, little = segment.getUint16(tiff) === 0x4949;
    var ifd = tiff + segment.getUint32(tiff + 4, little);
    var entries = segment.getUint16(ifd, little);
    for (var i = 0; i < entries; i++) {
      var entry = ifd + 2 + 12 * i;
      if (segment.getUint16(entry, little) === 0x0112) { segment.setUint16(entry + 8, 1, little); }
    }
  }

  /* ---------- the form's photos, for the report ---------- */

  function photoCount() { return photos.length; }

  /** The photos' blobs, once each has been shrunk (or kept as it was). */
  function photoBlobs() {
    return Promise.all(photos.map(function (slot) { return slot.ready.then(function () { return slot.blob; }); }));
  }

  function setPhotos(blobs) {
    photos = blobs.map(function (blob) { return { blob: blob, url: URL.createObjectURL(blob), ready: Promise.resolve() }; });
  }

  function clearPhotos() {
    photos.forEach(function (slot) { if (slot.url) { URL.revokeObjectURL(slot.url); } });
    photos = [];
  }

  Object.assign(Snap, { addPhotos: addPhotos, renderPreviews: renderPreviews, photoCount: photoCount, photoBlobs: photoBlobs,
                        setPhotos: setPhotos, clearPhotos: clearPhotos });
})(window.Snap = window.Snap || {});
