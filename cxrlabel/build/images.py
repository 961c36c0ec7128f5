"""Image decoding for the dataset builder: DICOM (with LUTs), PNG and JPEG → grayscale array → square PNG."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

DICOM_SUFFIXES = {".dcm", ".dicom", ""}
RASTER_SUFFIXES = {".png", ".jpg", ".jpeg"}
FRONTAL_VIEWS = {"PA", "AP", "FRONTAL", "AP AXIAL", "PA AXIAL"}


class ImageError(Exception):
    """An image that cannot be turned into a training image (the reason goes to errors.csv)."""


@dataclass
class DecodedImage:
    pixels: np.ndarray  # 2-D float array scaled to [0, 1]
    tags: dict[str, str] = field(default_factory=dict)  # AccessionNumber, StudyInstanceUID, PatientID, ViewPosition


def read_dicom(path: Path) -> DecodedImage:
    """Decode a DICOM image: modality LUT, VOI LUT / first stored window (min-max when none), MONOCHROME1 inverted."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        dataset = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ImageError(f"unreadable DICOM: {exc.__class__.__name__}: {exc}") from exc
    if "PixelData" not in dataset:
        raise ImageError("DICOM has no pixel data")
    try:
        array = dataset.pixel_array
    except NotImplementedError as exc:
        syntax = getattr(dataset.file_meta, "TransferSyntaxUID", "?")
        raise ImageError(f"unsupported transfer syntax {syntax}: {exc}") from exc
    except (ValueError, RuntimeError, AttributeError, EOFError) as exc:
        raise ImageError(f"pixel data cannot be decoded: {exc.__class__.__name__}: {exc}") from exc
    frames = int(getattr(dataset, "NumberOfFrames", 1) or 1)
    if frames > 1:
        array = array[0]
    if array.ndim == 3:  # colour: luminance
        array = array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    else:
        array = apply_modality_lut(array, dataset)
        if "WindowCenter" in dataset or "VOILUTSequence" in dataset:
            array = apply_voi_lut(array, dataset, index=0)
    array = np.asarray(array, dtype=np.float64)
    low, high = float(array.min()), float(array.max())
    scaled = (array - low) / (high - low) if high > low else np.zeros_like(array)
    if str(getattr(dataset, "PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        scaled = 1.0 - scaled
    tags = {key: str(getattr(dataset, key, "") or "")
            for key in ("AccessionNumber", "StudyInstanceUID", "PatientID", "ViewPosition")}
    return DecodedImage(scaled, tags)


def read_raster(path: Path) -> DecodedImage:
    try:
        with Image.open(path) as image:
            image.load()
            array = np.asarray(image.convert("I") if image.mode in ("I;16", "I;16B", "I") else image.convert("L"),
                               dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise ImageError(f"unreadable image: {exc}") from exc
    low, high = float(array.min()), float(array.max())
    return DecodedImage((array - low) / (high - low) if high > low else np.zeros_like(array))


def read_image(path: Path) -> DecodedImage:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise ImageError("file not found")
    if suffix in RASTER_SUFFIXES:
        return read_raster(path)
    return read_dicom(path)


def to_square_png(pixels: np.ndarray, size: int, bits: int) -> bytes:
    """Resize keeping the aspect ratio, pad the short side with black to size×size, encode as 8/16-bit PNG."""
    height, width = pixels.shape
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = np.asarray(Image.fromarray(pixels.astype(np.float32), mode="F").resize((new_w, new_h),
                                                                                     Image.Resampling.BILINEAR))
    canvas = np.zeros((size, size), dtype=np.float32)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = np.clip(resized, 0.0, 1.0)
    if bits == 16:
        image = Image.fromarray((canvas * 65535).round().astype(np.uint16))
    else:
        image = Image.fromarray((canvas * 255).round().astype(np.uint8), mode="L")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def is_frontal(view: str) -> bool:
    return view.strip().upper() in FRONTAL_VIEWS
