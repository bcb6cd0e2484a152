"""Link-card thumbnails: any image in, a JPEG under Bluesky's blob limit out (pure)."""

from __future__ import annotations

import io
import warnings

from PIL import Image

#: ``app.bsky.embed.external#external.thumb`` accepts blobs up to 1,000,000 bytes.
BLOB_LIMIT = 1_000_000
#: Refuse decompression bombs before decoding: 40 megapixels is a large photo already.
MAX_PIXELS = 40_000_000
MAX_SIDE = 1200


def make_thumbnail(data: bytes, *, limit: int = BLOB_LIMIT) -> tuple[bytes, str] | None:
    """A JPEG of at most ``limit`` bytes, or None when the data is not a usable image.

    Returns:
        (bytes, mime type). Small JPEG and PNG files under the limit pass unchanged.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_PIXELS or img.width < 1 or img.height < 1:
                return None
            fmt = img.format
            if fmt in ("JPEG", "PNG") and len(data) <= limit and max(img.size) <= MAX_SIDE * 2:
                return data, "image/jpeg" if fmt == "JPEG" else "image/png"
            img.load()
    except (OSError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning, SyntaxError):
        return None
    if img.mode not in ("RGB", "L"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        rgba = img.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        img = background
    side = MAX_SIDE
    quality = 85
    while side >= 100:
        copy = img.copy()
        copy.thumbnail((side, side))
        out = io.BytesIO()
        copy.convert("RGB").save(out, "JPEG", quality=quality, optimize=True)
        if out.tell() <= limit:
            return out.getvalue(), "image/jpeg"
        side = int(side * 0.75)
        quality = max(60, quality - 10)
    return None
