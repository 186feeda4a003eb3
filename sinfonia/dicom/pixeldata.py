"""Frames of stored DICOM files, read without loading the whole file.

Pure functions over a Part 10 file (PS3.10 §7): find where Pixel Data (7FE0,0010) starts, cut
one frame out of it either as stored (an encapsulated fragment set, PS3.5 §A.4) or as native
little-endian pixel bytes (PS3.5 §8.1.1 / §8.2), decoding with pydicom's plugins when the
stored transfer syntax is compressed. Used by WADO-RS frame and bulk data retrieval.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.uid import UID

PIXEL_DATA = 0x7FE00010
CHUNK = 1024 * 1024


class FrameError(ValueError):
    """The file has no pixel data, the frame does not exist, or it cannot be decoded."""


@dataclass(frozen=True, slots=True)
class PixelData:
    """Where the Pixel Data value of a file starts and how it is encoded."""

    header: Dataset  # everything before the pixel data (file meta included)
    transfer_syntax: UID
    offset: int  # file position of the first byte of the value
    length: int | None  # None: undefined length (encapsulated)
    frames: int

    @property
    def encapsulated(self) -> bool:
        return self.length is None


def locate(fh: BinaryIO) -> PixelData | None:
    """Parse the header of the open Part 10 file ``fh`` (or its bytes in a ``BytesIO``) and
    find its Pixel Data; None when it has none. Raises `FrameError` for a file whose pixel data
    is cut short."""
    ds = pydicom.dcmread(fh, stop_before_pixels=True)
    start = fh.tell()  # pydicom stops right before the Pixel Data element's tag
    tsyntax = UID(str(ds.file_meta.get("TransferSyntaxUID", "1.2.840.10008.1.2")))
    if tsyntax.is_deflated:
        raise FrameError("deflated transfer syntaxes cannot be read frame by frame")
    endian = "<" if tsyntax.is_little_endian else ">"
    head = fh.read(8)
    if len(head) < 8:
        return None
    group, element = struct.unpack(f"{endian}HH", head[:4])
    if (group << 16 | element) != PIXEL_DATA:
        return None
    if tsyntax.is_implicit_VR:
        (length,) = struct.unpack(f"{endian}L", head[4:8])
        offset = start + 8
    else:
        extra = fh.read(4)  # OB/OW: two reserved bytes, then a 32-bit length (PS3.5 §7.1.2)
        (length,) = struct.unpack(f"{endian}L", extra)
        offset = start + 12
    here = fh.tell()
    size = fh.seek(0, os.SEEK_END)  # a file or bytes in memory alike
    fh.seek(here)
    if length != 0xFFFFFFFF and offset + length > size:
        raise FrameError(f"pixel data is cut short: {offset + length - size} bytes missing")
    try:
        frames = max(int(ds.get("NumberOfFrames") or 1), 1)
    except (TypeError, ValueError):
        frames = 1
    return PixelData(
        header=ds,
        transfer_syntax=tsyntax,
        offset=offset,
        length=None if length == 0xFFFFFFFF else length,
        frames=frames,
    )


def _frame_length(pixels: PixelData) -> int | None:
    """Bytes per native frame, or None when frames do not start on byte boundaries."""
    ds = pixels.header
    bits = int(ds.get("BitsAllocated") or 0)
    if bits % 8 or not bits:
        return None
    rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    samples = int(ds.get("SamplesPerPixel") or 1)
    return rows * columns * samples * bits // 8


def stored_frame(path: Path, index: int) -> tuple[bytes, UID]:
    """Frame ``index`` (from 0) exactly as stored, with the file's transfer syntax: one
    encapsulated frame's fragments joined (PS3.5 §A.4), or the native bytes as they are."""
    with open(path, "rb") as fh:
        pixels = _located(fh, index)
        if not pixels.encapsulated:
            return _native_slice(fh, pixels, index), pixels.transfer_syntax
        fh.seek(pixels.offset)
        ds = pixels.header
        extended = None
        if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
            extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
        try:
            frame = get_frame(fh, index, number_of_frames=pixels.frames, extended_offsets=extended)
        except (ValueError, EOFError) as exc:
            raise FrameError(f"cannot find frame {index + 1}: {exc}") from exc
        return frame, pixels.transfer_syntax


def native_frame(path: Path, index: int) -> bytes:
    """Frame ``index`` (from 0) as native pixel bytes, little endian (Explicit VR Little
    Endian's encoding, PS3.5 §8.1.1), decoding compressed pixel data. Colour that was stored
    as YBR in a JPEG codestream is returned as RGB, as pydicom's decoders deliver it."""
    with open(path, "rb") as fh:
        pixels = _located(fh, index)
        length = _frame_length(pixels)
        if (
            not pixels.encapsulated
            and pixels.transfer_syntax.is_little_endian
            and length is not None
        ):
            return _native_slice(fh, pixels, index)
    from pydicom.pixels.utils import pack_bits, pixel_array

    try:
        arr = pixel_array(str(path), index=index)
    except Exception as exc:  # pydicom raises many kinds for codecs it cannot run
        raise FrameError(
            f"cannot decode frame {index + 1} ({pixels.transfer_syntax.name}): {exc}"
        ) from exc
    if int(pixels.header.get("BitsAllocated") or 0) == 1:
        return pack_bits(arr)
    return bytes(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())


def _located(fh: BinaryIO, index: int) -> PixelData:
    try:
        pixels = locate(fh)
    except FrameError:
        raise
    except Exception as exc:  # unreadable header
        raise FrameError(f"unreadable DICOM: {exc}") from exc
    if pixels is None:
        raise FrameError("this instance has no pixel data")
    if not 0 <= index < pixels.frames:
        raise FrameError(f"frame {index + 1} does not exist: the instance has {pixels.frames}")
    return pixels


def _native_slice(fh: BinaryIO, pixels: PixelData, index: int) -> bytes:
    length = _frame_length(pixels)
    if length is None or pixels.length is None:
        raise FrameError("frames of less than a byte per pixel are not cut from native data")
    fh.seek(pixels.offset + index * length)
    data = fh.read(length)
    if len(data) != length:
        raise FrameError(f"frame {index + 1} is cut short")
    return data
