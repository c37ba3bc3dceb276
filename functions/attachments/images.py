"""Re-encode a photo without its metadata; read its GPS position first (Pillow, worker only).

A phone photo carries EXIF: the GPS position, the device, the time. Staff need the picture, not
the device; the position is useful as the case's location when the citizen gave none, so it is
read here and offered to the caller, then dropped with the rest: the image is decoded and written
again from pixels only (JPEG for photos, PNG for images with transparency), so no EXIF, XMP, ICC
or comment block survives. Animated stickers keep only their first frame.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

MAX_PIXELS = 40_000_000  # a decompression bomb is refused, not decoded (Pillow's own default is ~89 M)


class BadImage(ValueError):
    """The bytes claimed to be an image but cannot be decoded."""


@dataclass(frozen=True)
class CleanImage:
    data: bytes
    mime: str
    ext: str
    gps: tuple[float, float] | None  # (latitude, longitude) from EXIF, before stripping


def clean_image(data: bytes) -> CleanImage:
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            gps = _gps(img)
            img.seek(0)
            img = ImageOps.exif_transpose(img)  # keep the photo upright once the tag is gone
            transparent = img.mode in {"RGBA", "LA", "PA"} or (img.mode == "P" and "transparency" in img.info)
            out = io.BytesIO()
            if transparent:
                pixels = img.convert("RGBA")
                pixels.save(out, format="PNG", optimize=True)
                mime, ext = "image/png", "png"
            else:
                pixels = img.convert("RGB")
                pixels.save(out, format="JPEG", quality=85, optimize=True)
                mime, ext = "image/jpeg", "jpg"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        raise BadImage(type(e).__name__) from e
    return CleanImage(out.getvalue(), mime, ext, gps)


def _gps(img) -> tuple[float, float] | None:
    """EXIF GPS IFD (tag 0x8825): latitude 2 with ref 1, longitude 4 with ref 3, as degrees,
    minutes, seconds rationals."""
    try:
        exif = img.getexif()
        info = exif.get_ifd(0x8825)
    except Exception:  # noqa: BLE001 - a broken EXIF block only means no position
        return None
    try:
        lat = _degrees(info[2], info.get(1, "N"))
        lng = _degrees(info[4], info.get(3, "E"))
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None
    return round(lat, 6), round(lng, 6)


def _degrees(dms, ref) -> float:
    d, m, s = (float(x) for x in dms)
    value = d + m / 60 + s / 3600
    ref = ref.decode() if isinstance(ref, bytes) else str(ref)
    return -value if ref.strip().upper() in {"S", "W"} else value
