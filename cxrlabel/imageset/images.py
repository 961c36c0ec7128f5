"""Image decoding for the dataset builder: DICOM (LUTs, window, MONOCHROME1), PNG and JPEG → [0, 1] grayscale
array → square PNG.

DICOM display pipeline (PS3.3 C.11): stored values → modality LUT (rescale slope/intercept or a Modality LUT
Sequence) → VOI: the first VOI LUT Sequence item when present, else the first stored window (LINEAR,
LINEAR_EXACT or SIGMOID), else the min–max of the image → MONOCHROME1 inverted so that bone is bright. The LUTs
and the window are pydicom's (`apply_modality_lut`, `apply_voi_lut`, `apply_windowing`).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

RASTER_SUFFIXES = {".png", ".jpg", ".jpeg"}
PNG_LEVEL = 3  # zlib level: 3-4× faster than 6 on 1024² radiographs for 4-15 % larger files
FRONTAL_VIEWS = {"PA", "AP", "FRONTAL", "AP AXIAL", "PA AXIAL", "POSTERO-ANTERIOR", "ANTERO-POSTERIOR"}
TAG_KEYS = ("AccessionNumber", "StudyInstanceUID", "PatientID", "ViewPosition")
VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian
FIRST_GROUPS = {0x0000, 0x0002, 0x0004, 0x0008}  # the group a data set without preamble starts with


def looks_like_dicom(path: Path) -> bool:
    """A 'DICM' preamble, or a bare little-endian data set (old exports) starting with a plausible group."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError:
        return True  # unreadable: let the reader report why
    if head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and int.from_bytes(head[:2], "little") in FIRST_GROUPS


def read_dataset(path: Path, stop_before_pixels: bool = False):
    """pydicom data set of a DICOM file, old files without preamble / file meta included: those are read with
    force=True and given the transfer syntax their encoding shows (implicit VR little endian for ACR-NEMA style)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except InvalidDicomError:
        if not looks_like_dicom(path):
            raise
    dataset = pydicom.dcmread(path, force=True, stop_before_pixels=stop_before_pixels)
    if not getattr(dataset.file_meta, "TransferSyntaxUID", None):
        implicit, little = getattr(dataset, "original_encoding", (True, True))
        meta = dataset.file_meta if isinstance(dataset.file_meta, FileMetaDataset) else FileMetaDataset()
        meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit is not False else
                                  ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian)
        dataset.file_meta = meta
    return dataset


NOT_AN_IMAGE = "not an image file (neither DICOM, PNG nor JPEG)"


class ImageError(Exception):
    """An image that cannot be turned into a training image (the reason goes to errors.csv)."""


@dataclass
class DecodedImage:
    pixels: np.ndarray  # 2-D float32 array in [0, 1], bright = dense
    tags: dict[str, str] = field(default_factory=dict)  # the TAG_KEYS values (DICOM only), never written out


def _min_max(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def _voi(values: np.ndarray, dataset) -> np.ndarray:
    """VOI transform of modality values to [0, 1]: VOI LUT Sequence, else the first window, else min–max."""
    from pydicom.pixels import apply_voi_lut

    if "VOILUTSequence" in dataset and len(dataset.VOILUTSequence):
        lut = np.asarray(dataset.VOILUTSequence[0].LUTData, dtype=np.float64)
        mapped = np.asarray(apply_voi_lut(values, dataset, index=0, prefer_lut=True), dtype=np.float32)
        low, high = float(lut.min()), float(lut.max())
        return np.clip((mapped - low) / (high - low), 0.0, 1.0) if high > low else _min_max(mapped)
    if "WindowCenter" in dataset and "WindowWidth" in dataset:
        return _window(values, dataset)
    return _min_max(values)


def _window(values: np.ndarray, dataset) -> np.ndarray:
    """The first stored window (pydicom's `apply_windowing`) scaled from its output range to [0, 1]. A window the
    function cannot use (empty, malformed, a width below its minimum) is treated as if none were stored."""
    from pydicom.pixels import apply_windowing

    function = str(dataset.get("VOILUTFunction", "") or "").strip().upper()
    if function not in VOI_FUNCTIONS:
        dataset.VOILUTFunction = "LINEAR"  # absent, empty or unknown: the standard's default
    try:
        with np.errstate(over="ignore"):  # SIGMOID at ±inf
            low, high = apply_windowing(np.array([-np.inf, np.inf]), dataset)  # its output range (high < low
            # under a negative rescale slope)
            windowed = apply_windowing(values, dataset)
    except (TypeError, ValueError, IndexError, AttributeError):
        return _min_max(values)
    if high == low:
        return _min_max(values)
    return np.clip((windowed - low) / (high - low), 0.0, 1.0).astype(np.float32)


def _tags(dataset) -> dict[str, str]:
    tags = {key: str(dataset.get(key, "") or "").strip() for key in TAG_KEYS}
    if not tags["ViewPosition"]:
        tags["ViewPosition"] = view_from_code(dataset)
    return tags


def view_from_code(dataset) -> str:
    """PA / AP / LATERAL from the View Code Sequence when the ViewPosition tag is empty."""
    try:
        meaning = str(dataset.ViewCodeSequence[0].CodeMeaning).lower()
    except (AttributeError, IndexError, KeyError):
        return ""
    if "lateral" in meaning:
        return "LATERAL"
    if "postero-anterior" in meaning or "posteroanterior" in meaning:
        return "PA"
    if "antero-posterior" in meaning or "anteroposterior" in meaning:
        return "AP"
    return ""


def read_dicom(path: Path) -> DecodedImage:
    """Decode the first frame of a DICOM image to a [0, 1] display array (see the module docstring)."""
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about many benign oddities; errors are raised below
        try:
            dataset = read_dataset(path)  # old exports without preamble / file meta included
        except InvalidDicomError:
            raise ImageError(NOT_AN_IMAGE) from None
        except Exception as exc:  # a broken header: reported with the reason, the build goes on
            raise ImageError(f"unreadable DICOM: {exc.__class__.__name__}") from exc
        if "PixelData" not in dataset:
            with open(path, "rb") as handle:  # the tag is there but pydicom dropped it: the file was cut short
                if PIXEL_DATA_TAG in handle.read():
                    raise ImageError("truncated DICOM: the pixel data are cut short and cannot be decoded")
            raise ImageError("DICOM has no pixel data")
        if str(dataset.get("BurnedInAnnotation", "")).strip().upper() == "YES":
            raise ImageError("burned-in annotation (the pixels may show patient data)")
        syntax = str(getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", "") or "unknown")
        try:
            if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
                dataset.pixel_array_options(index=0)  # decode the first frame only
            array = dataset.pixel_array
        except NotImplementedError as exc:
            raise ImageError(f"unsupported transfer syntax {syntax}") from exc
        except Exception as exc:  # truncated data, a codec failure, inconsistent pixel module tags
            message = str(exc).splitlines()[0][:160] if str(exc) else ""
            if "plugin" in message.lower() or "no pixel data decoders" in message.lower():
                raise ImageError(f"unsupported transfer syntax {syntax}: no decoder could read it") from exc
            raise ImageError(f"pixel data cannot be decoded ({syntax}): {exc.__class__.__name__}") from exc
        photometric = str(dataset.get("PhotometricInterpretation", "")).strip().upper()
        if photometric == "PALETTE COLOR":
            array = apply_color_lut(array, dataset)
        if array.ndim == 3:  # colour (RGB; pydicom converts YBR): luminance, scaled by the sample range
            full = float(np.iinfo(array.dtype).max if photometric == "PALETTE COLOR" and array.dtype.kind in "ui"
                         else 2 ** int(dataset.get("BitsStored", 8)) - 1)
            pixels = (array[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)) / full
            pixels = np.clip(pixels, 0.0, 1.0)
        else:
            values = np.asarray(apply_modality_lut(array, dataset), dtype=np.float32)
            pixels = _voi(values, dataset)
            if photometric == "MONOCHROME1":
                pixels = 1.0 - pixels
    return DecodedImage(np.asarray(pixels, dtype=np.float32), _tags(dataset))


def read_raster(path: Path) -> DecodedImage:
    """PNG / JPEG as stored (8-bit / 255, 16-bit / 65535; colour → luminance); no contrast change."""
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image.convert("I"), dtype=np.float32) / 65535.0
            else:
                array = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"unreadable image: {exc.__class__.__name__}") from exc
    return DecodedImage(np.clip(array, 0.0, 1.0))


def read_image(path: Path) -> DecodedImage:
    """DICOM (any suffix but .png/.jpg/.jpeg), PNG or JPEG → DecodedImage; ImageError with a reason otherwise."""
    if not path.is_file():
        raise ImageError("file not found")
    if path.suffix.lower() in RASTER_SUFFIXES:
        return read_raster(path)
    return read_dicom(path)


def to_square_png(pixels: np.ndarray, size: int, bits: int) -> bytes:
    """Resize keeping the aspect ratio, pad the short side with black to size×size, encode as 8/16-bit PNG."""
    if pixels.ndim != 2 or min(pixels.shape) == 0:
        raise ImageError(f"not a 2-D image (shape {pixels.shape})")
    height, width = pixels.shape
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    source = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    resized = np.asarray(source.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=3.0))
    canvas = np.zeros((size, size), dtype=np.float32)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = np.clip(resized, 0.0, 1.0)
    if bits == 16:
        image = Image.fromarray((canvas * 65535).round().astype(np.uint16))
    else:
        image = Image.fromarray((canvas * 255).round().astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_LEVEL)
    return buffer.getvalue()


def is_frontal(view: str) -> bool:
    return view.strip().upper() in FRONTAL_VIEWS
