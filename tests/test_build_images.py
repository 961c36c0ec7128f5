"""Dataset builder, image side: DICOM display pipeline (modality LUT, VOI LUT, window, MONOCHROME1), compressed
transfer syntaxes on pydicom's bundled test files, faults, rasters and the square PNG."""

from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import DATA_ROOT
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from cxrlabel.imageset.images import ImageError, read_dataset, read_image, to_square_png, view_from_code


def bundled(name: str) -> Path:
    """A file bundled with pydicom, read from disk only (never `get_testdata_file`, which may download)."""
    path = Path(DATA_ROOT) / "test_files" / name
    if not path.is_file():
        pytest.skip(f"{name} is not bundled with this pydicom")
    return path


def write_dicom(path: Path, pixels: np.ndarray, bits_stored: int = 12, **tags) -> Path:
    """A little-endian explicit VR grayscale DICOM with the given unsigned pixels and extra tags."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = SecondaryCaptureImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, bits_stored, bits_stored - 1
    dataset.PixelRepresentation = 0
    for key, value in tags.items():
        setattr(dataset, key, value)
    dataset.PixelData = pixels.astype(np.uint16).tobytes()
    dataset.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm",
                                  "JPEGLSNearLossless_16.dcm", "JPEG2000.dcm", "MR_small_jp2klossless.dcm",
                                  "693_J2KI.dcm", "JPGExtended.dcm", "SC_rgb_jpeg.dcm", "SC_rgb_rle.dcm",
                                  "examples_palette.dcm", "SC_ybr_full_422_uncompressed.dcm"])
def test_bundled_dicom_decodes_to_unit_range(name):
    image = read_image(bundled(name))
    assert image.pixels.ndim == 2 and image.pixels.dtype == np.float32
    assert 0.0 <= image.pixels.min() < image.pixels.max() <= 1.0


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm",
                                  "MR_small_bigendian.dcm", "MR_small_implicit.dcm"])
def test_lossless_syntaxes_give_the_uncompressed_pixels(name):
    reference = read_image(bundled("MR_small.dcm")).pixels
    assert np.allclose(read_image(bundled(name)).pixels, reference, atol=1e-6)


def test_first_stored_window_after_the_modality_lut(tmp_path):
    # stored 0..4000 → modality value 2*x - 1000; windows (1000, 801) then (0, 100): the first one is used
    stored = np.array([[0, 500, 750, 1000], [1001, 2000, 3000, 4000]])
    path = write_dicom(tmp_path / "w.dcm", stored, RescaleSlope=2, RescaleIntercept=-1000,
                       WindowCenter=[1000, 0], WindowWidth=[801, 100])
    pixels = read_image(path).pixels
    modality = 2.0 * stored - 1000
    expected = np.clip((modality - 999.5) / 800 + 0.5, 0, 1)
    assert np.allclose(pixels, expected, atol=1e-6)
    assert pixels[0, 0] == 0.0 and pixels[1, 3] == 1.0 and pixels[0, 3] == pytest.approx(0.5, abs=0.01)


def test_no_window_is_min_max_and_12_bit_keeps_its_range(tmp_path):
    stored = np.array([[100, 1100], [2100, 4095]])
    pixels = read_image(write_dicom(tmp_path / "m.dcm", stored)).pixels
    assert np.allclose(pixels, (stored - 100) / (4095 - 100))


def test_voi_lut_sequence_is_preferred_and_scaled_by_its_output_range(tmp_path):
    item = Dataset()
    item.LUTDescriptor = [4, 0, 8]
    item.add_new(0x00283006, "US", [0, 50, 100, 200])  # LUTData
    path = write_dicom(tmp_path / "lut.dcm", np.array([[0, 1], [2, 3]]), bits_stored=8,
                       VOILUTSequence=pydicom.Sequence([item]), WindowCenter=1, WindowWidth=1)
    assert np.allclose(read_image(path).pixels, [[0, 0.25], [0.5, 1.0]])


def test_window_functions(tmp_path):
    # stored 1900, 2000, 2100 → modality value x - 2000: -100, 0, 100 under a window (0, 100)
    stored = np.array([[1900, 2000, 2100]])
    values = stored - 2000.0

    def windowed(function: str, **tags) -> np.ndarray:
        return read_image(write_dicom(tmp_path / f"{function}.dcm", stored, RescaleSlope=1, RescaleIntercept=-2000,
                                      WindowCenter=0, WindowWidth=100, VOILUTFunction=function, **tags)).pixels[0]

    assert np.allclose(windowed("LINEAR_EXACT"), [0, 0.5, 1])
    assert np.allclose(windowed("SIGMOID"), 1 / (1 + np.exp(-4 * values / 100)), atol=1e-6)
    assert np.allclose(windowed("LINEAR"), np.clip((values + 0.5) / 99 + 0.5, 0, 1), atol=1e-6)
    assert np.allclose(windowed(""), windowed("LINEAR"))  # an empty function is the standard's LINEAR


def test_a_window_the_function_cannot_use_is_ignored(tmp_path):
    stored = np.array([[100, 1100], [2100, 4095]])
    min_max = (stored - 100) / (4095 - 100)
    for name, tags in (("narrow", {"WindowCenter": 2000, "WindowWidth": 0.5}),  # LINEAR needs width >= 1
                       ("empty", {"WindowCenter": "", "WindowWidth": ""})):
        assert np.allclose(read_image(write_dicom(tmp_path / f"{name}.dcm", stored, **tags)).pixels, min_max)


def test_monochrome1_is_inverted(tmp_path):
    stored = np.array([[0, 1000], [3000, 4000]])
    plain = read_image(write_dicom(tmp_path / "m2.dcm", stored, WindowCenter=2000, WindowWidth=4001)).pixels
    inverted = read_image(write_dicom(tmp_path / "m1.dcm", stored, WindowCenter=2000, WindowWidth=4001,
                                      PhotometricInterpretation="MONOCHROME1")).pixels
    assert np.allclose(inverted, 1.0 - plain) and inverted[0, 0] > inverted[1, 1]


def test_faulty_dicom_raise_image_errors_with_reasons(tmp_path):
    with pytest.raises(ImageError, match="no pixel data"):
        read_image(bundled("rtplan.dcm"))
    with pytest.raises(ImageError, match="cannot be decoded"):
        read_image(bundled("MR_truncated.dcm"))
    unknown = tmp_path / "unknown_syntax.dcm"  # same-length UID swap keeps the file meta consistent
    unknown.write_bytes(bundled("CT_small.dcm").read_bytes().replace(b"1.2.840.10008.1.2.1\x00",
                                                                     b"1.2.840.99999.9.9.9\x00", 1))
    with pytest.raises(ImageError, match="unsupported transfer syntax 1.2.840.99999.9.9.9"):
        read_image(unknown)
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not a dicom at all" * 20)
    with pytest.raises(ImageError):
        read_image(junk)
    with pytest.raises(ImageError, match="file not found"):
        read_image(tmp_path / "absent.dcm")
    burned = write_dicom(tmp_path / "b.dcm", np.array([[0, 1]]), BurnedInAnnotation="YES")
    with pytest.raises(ImageError, match="burned-in"):
        read_image(burned)


def test_raster_images_keep_their_stored_values(tmp_path):
    ramp16 = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)
    Image.fromarray(ramp16).save(tmp_path / "r16.png")
    assert np.allclose(read_image(tmp_path / "r16.png").pixels, ramp16 / 65535.0)
    Image.fromarray(np.full((8, 8, 3), (200, 100, 50), np.uint8)).save(tmp_path / "rgb.jpg", quality=100)
    gray = read_image(tmp_path / "rgb.jpg").pixels
    assert abs(float(gray.mean()) - (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255) < 0.01
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ImageError, match="unreadable image"):
        read_image(tmp_path / "bad.png")


def test_square_png_keeps_aspect_with_padding_and_16_bit_depth():
    image = np.asarray(Image.open(BytesIO(to_square_png(np.ones((50, 100), np.float32), 64, 8))))
    assert image.shape == (64, 64) and image.dtype == np.uint8
    assert image[0].max() == 0 and image[-1].max() == 0 and image[32].min() == 255  # black bands, content middle
    ramp = np.tile(np.linspace(0, 1, 512, dtype=np.float32), (512, 1))
    deep = np.asarray(Image.open(BytesIO(to_square_png(ramp, 512, 16))))
    assert deep.dtype.itemsize >= 2 and len(np.unique(deep)) > 256  # more than 8 bits of grey levels survive


def test_view_from_the_view_code_sequence():
    item = Dataset()
    item.CodeMeaning = "postero-anterior"
    dataset = Dataset()
    dataset.ViewCodeSequence = pydicom.Sequence([item])
    assert view_from_code(dataset) == "PA"
    item.CodeMeaning = "left lateral"
    assert view_from_code(dataset) == "LATERAL"
    assert view_from_code(Dataset()) == ""


SHARED_CR = Path(__file__).resolve().parents[2] / "shared" / "data" / "dicom" / "CR-MONO1-10-chest.dcm"


@pytest.mark.skipif(not SHARED_CR.is_file(), reason="../shared is absent")
def test_real_cr_is_its_stored_linear_window_inverted():
    # CR-MONO1-10-chest.dcm: 10-bit MONOCHROME1, window centre 550, width 1024, no rescale: PS3.3 C.11.2.1.2.1
    stored = read_dataset(SHARED_CR).pixel_array.astype(np.float64)  # no file meta: its syntax from the encoding
    expected = 1.0 - np.clip((stored - 549.5) / 1023 + 0.5, 0.0, 1.0)
    pixels = read_image(SHARED_CR).pixels
    assert pixels.dtype == np.float32 and np.allclose(pixels, expected, atol=1e-6)
    assert 0.0 < (pixels == 1.0).mean() < 0.5  # the window clips part of the image (below it: white), not all
