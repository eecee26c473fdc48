/*
 * Photos shrunk on the phone before upload, shared by the report page (intake) and the
 * worker's task page (field): decoded upright (EXIF orientation applied by the browser),
 * scaled so the longest side is at most `longestSide`, re-encoded as JPEG. Re-encoding also
 * drops EXIF, which is why the pages send position and time separately.
 */
(function () {
  "use strict";

  function decode(file) {
    const viaImage = () => new Promise((resolve, reject) => {
      const url = URL.createObjectURL(file);
      const img = new Image();
      img.onload = () => { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = () => { URL.revokeObjectURL(url); reject(new Error("decode")); };
      img.src = url;
    });
    if (typeof window.createImageBitmap === "function") {
      return createImageBitmap(file, { imageOrientation: "from-image" }).catch(viaImage);
    }
    return viaImage();
  }

  function canvasBlob(canvas, quality) {
    return new Promise((resolve) => {
      if (canvas.toBlob) {
        canvas.toBlob(resolve, "image/jpeg", quality);
        return;
      }
      // Old WebViews without toBlob: go through a data URL.
      const data = atob(canvas.toDataURL("image/jpeg", quality).split(",")[1]);
      const bytes = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i);
      resolve(new Blob([bytes], { type: "image/jpeg" }));
    });
  }

  async function shrink(file, longestSide, quality) {
    const image = await decode(file);
    const width = image.naturalWidth || image.width;
    const height = image.naturalHeight || image.height;
    const scale = Math.min(1, longestSide / Math.max(width, height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(width * scale));
    canvas.height = Math.max(1, Math.round(height * scale));
    canvas.getContext("2d").drawImage(image, 0, 0, canvas.width, canvas.height);
    if (image.close) image.close();
    const blob = await canvasBlob(canvas, quality);
    canvas.width = canvas.height = 0; // give the memory back at once on a small phone
    if (!blob) throw new Error("encode");
    return blob;
  }

  window.YunbaoPhotos = { shrink };
})();
