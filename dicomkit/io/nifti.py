"""NIfTI-1 files on disk (nibabel): an image from an array and an affine, its JSON.

The file-level half of the NIfTI sink; :mod:`dicomkit.export` decides what to
write for a volume or a collection, with the pure rules of :mod:`dicomkit.nifti`.
Every file goes through :func:`dicomkit.io.atomic.write_file` (temporary name
beside it, fsync, rename). A plain ``.nii`` of a regular stack of uncompressed
single-frame files is streamed from the files (:func:`dicomkit.io.native.pixel_range`,
:func:`stream_writer`): no volume array is built.

nibabel is an optional dependency: ``pip install "dicomkit[nifti]"``.
"""

from __future__ import annotations

import gzip
import importlib
import io
import json
import os
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from types import ModuleType
from typing import Any, BinaryIO

import numpy as np

from dicomkit.exceptions import MissingExtraError
from dicomkit.io.atomic import file_mode, write_file
from dicomkit.io.native import PixelRange, correct_bits
from dicomkit.io.walk import os_path

__all__ = [
    "CHUNK",
    "GZIP_LEVEL",
    "ISAL_LEVEL",
    "check_suffix",
    "deflater",
    "header_bytes",
    "nifti_writer",
    "require_nibabel",
    "sidecar_path",
    "stream_writer",
    "write_json",
]

#: zlib's gzip level of ``.nii.gz``: 1 is ~5× faster than 6 for ~3-10 % more bytes.
GZIP_LEVEL = 1
#: The level when ISA-L (``pip install isal``, in the ``nifti`` extra) compresses:
#: its level 2 is ~4× faster than zlib's level 1, files the size of zlib's level 6.
ISAL_LEVEL = 2


def deflater() -> tuple[Any, int, str]:
    """The compressor of ``.nii.gz`` members: ``(module, level, name)``, ISA-L's
    ``isal_zlib`` when installed, else the standard library's ``zlib``; both
    write standard gzip members (``wbits=31``)."""
    try:
        from isal import isal_zlib
    except ImportError:
        return zlib, GZIP_LEVEL, f"zlib level {GZIP_LEVEL}"
    return isal_zlib, ISAL_LEVEL, f"isal level {ISAL_LEVEL}"


def require_nibabel() -> ModuleType:
    """``import nibabel``, or :class:`~dicomkit.exceptions.MissingExtraError`
    naming the extra to install."""
    try:
        return importlib.import_module("nibabel")
    except ImportError as exc:
        msg = (
            "NIfTI export needs nibabel, which is not installed: "
            'pip install "dicomkit[nifti]"'
        )
        raise MissingExtraError(msg) from exc


def nifti_writer(
    image: Any, *, compress: bool, threads: int | None = None
) -> Callable[[BinaryIO], None]:
    """What :func:`dicomkit.io.atomic.write_file` writes for a nibabel image.

    The header nibabel would write (:func:`header_bytes`), then the voxels'
    buffer as it is in memory, in :data:`WRITE_CHUNK` pieces: one sequential
    pass, no copy of the array (the file is byte for byte what
    ``image.to_stream`` writes). With
    ``compress``, the bytes are gzip members of :data:`CHUNK` bytes each,
    compressed by :func:`deflater` (ISA-L level 2 when installed, else zlib level
    1) in ``threads`` threads (both release the GIL; default: the CPUs, at most 4) and written in order: concatenated members
    are one valid gzip stream (RFC 1952), read by nibabel, ``gzip -d``, zlib's
    ``gzread`` (ITK, FSL) alike.
    """

    def fill(fp: BinaryIO) -> None:
        head, data = header_bytes(image), _voxel_buffer(image)
        if data is None:  # an array nibabel must convert: its own writer
            if compress:
                with gzip.GzipFile(
                    fileobj=fp, mode="wb", compresslevel=GZIP_LEVEL, mtime=0
                ) as gz:
                    image.to_stream(gz)
            else:
                image.to_stream(fp)
        elif compress:
            _write_gzip(fp, head, data, threads)
        else:
            fp.write(head)
            for start in range(0, len(data), WRITE_CHUNK):
                fp.write(data[start : start + WRITE_CHUNK])

    return fill


#: Bytes per ``write`` call of a ``.nii``: one write of a whole 150 MB volume is
#: ~8× slower (measured on Linux/ext4) than the same bytes in 512 KB writes, which
#: stay in the CPU caches while the kernel copies them.
WRITE_CHUNK = 512 << 10


#: Bytes per gzip member of a ``.nii.gz`` (each compressed by one thread).
CHUNK = 4 << 20


def header_bytes(image: Any) -> bytes:
    """The bytes before the voxels of a single-file NIfTI-1 ``image``: its header
    as nibabel writes it (after ``update_header``), extensions, padding to
    ``vox_offset``."""
    image.update_header()
    header = image.header
    buffer = io.BytesIO()
    header.write_to(buffer)
    offset = int(header.get_data_offset())
    return buffer.getvalue().ljust(offset, b"\0")


def _voxel_buffer(image: Any) -> memoryview | None:
    """The voxels of ``image`` as the bytes NIfTI stores (Fortran order of its
    ``(x, y, z[, t])`` array = C order of dicomkit's ``(z, y, x)``), without a
    copy; None when the array is not already in the header's data type, byte
    order and memory order (nibabel converts those)."""
    data = image.dataobj
    if not isinstance(data, np.ndarray) or not data.flags.f_contiguous:
        return None
    if data.dtype != image.header.get_data_dtype():
        return None
    if image.header.has_data_slope and not _slope_is_set(image.header):
        return None  # nibabel would compute a scaling
    view: memoryview = data.T.data  # C-contiguous: data is Fortran-ordered
    return view.cast("B")


def _slope_is_set(header: Any) -> bool:
    slope, inter = header["scl_slope"].item(), header["scl_inter"].item()
    return not (np.isnan(slope) and np.isnan(inter))


def _write_gzip(
    fp: BinaryIO, head: bytes, data: memoryview, threads: int | None
) -> None:
    workers = threads or min(os.cpu_count() or 1, 4)

    module, level, _ = deflater()

    def member(piece: bytes | memoryview) -> bytes:
        packer = module.compressobj(level, module.DEFLATED, 31)  # 31: gzip wrapper
        packed: bytes = packer.compress(piece) + packer.flush()
        return packed

    first = head + bytes(data[:CHUNK])
    pieces: list[bytes | memoryview] = [first] + [
        data[i : i + CHUNK] for i in range(CHUNK, len(data), CHUNK)
    ]
    if workers == 1:
        for piece in pieces:
            fp.write(member(piece))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[Future[bytes]] = deque()
        for piece in pieces:  # at most 2 × workers members in memory
            pending.append(pool.submit(member, piece))
            if len(pending) >= 2 * workers:
                fp.write(pending.popleft().result())
        while pending:
            fp.write(pending.popleft().result())


# -- a .nii streamed from the files' pixel bytes -------------------------------------


def stream_writer(
    head: bytes, sources: Sequence[PixelRange], *, copy: bool = True
) -> Callable[[BinaryIO], None]:
    """What :func:`dicomkit.io.atomic.write_file` writes for a ``.nii`` whose
    voxels are the files' pixel bytes in order: ``head`` (:func:`header_bytes`),
    then each source's ``length`` bytes from ``start``, never gathered into one
    array (a new 150 MB array costs more in page faults than the copy).

    A file whose unused high bits must be corrected (``shift``) is read into one
    reused buffer, corrected as :func:`dicomkit.io.pixels.read_stored` does
    (cleared, or carrying the sign), and written; the others are copied by the
    kernel (``os.copy_file_range``, else ``os.sendfile``) when ``copy``, else
    read and written in pieces (also the fallback when the kernel refuses).
    """

    def fill(fp: BinaryIO) -> None:
        fp.write(head)
        fp.flush()
        out = fp.fileno()
        scratch: dict[tuple[np.dtype[Any], tuple[int, int, int]], Any] = {}
        for src in sources:
            with open(os_path(src.path), "rb", buffering=0) as f:
                if src.shift:
                    key = (src.dtype, src.shape)
                    plane = scratch.get(key)
                    if plane is None:
                        plane = scratch[key] = np.empty(src.shape, dtype=src.dtype)
                    f.seek(src.start)
                    if f.readinto(plane.data.cast("B")) != src.length:
                        msg = f"{src.path!r} changed while it was exported"
                        raise OSError(msg)
                    correct_bits(plane, src.ds)
                    fp.write(plane.data.cast("B"))
                    fp.flush()
                    continue
                _copy_range(f, out, src, kernel=copy)

    return fill


def _copy_range(src: BinaryIO, out: int, piece: PixelRange, *, kernel: bool) -> None:
    """``piece``'s bytes of ``src`` appended to the file descriptor ``out``."""
    done, length = 0, piece.length
    if kernel:
        copier = getattr(os, "copy_file_range", None)
        try:
            while done < length:
                if copier is not None:
                    n = copier(src.fileno(), out, length - done, piece.start + done)
                else:
                    n = os.sendfile(
                        out, src.fileno(), piece.start + done, length - done
                    )
                if n <= 0:
                    break
                done += n
        except OSError:
            pass  # not supported here (another file system, an old kernel): copy
    src.seek(piece.start + done)
    while done < length:
        block = src.read(min(WRITE_CHUNK, length - done))
        if not block:
            msg = f"{piece.path!r} changed while it was exported"
            raise OSError(msg)
        os.write(out, block)
        done += len(block)


def write_json(data: dict[str, Any], target: str, *, overwrite: bool) -> None:
    """``data`` as UTF-8 JSON at ``target``, atomically."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_file(
        target,
        lambda fp: fp.write(text.encode("utf-8")),
        mode=file_mode(),
        overwrite=overwrite,
    )


def check_suffix(path: str) -> bool:
    """True for ``.nii.gz``, False for ``.nii``; anything else is refused."""
    if path.endswith(".nii.gz"):
        return True
    if path.endswith(".nii"):
        return False
    msg = f"a NIfTI file name ends in .nii or .nii.gz, not {os.path.basename(path)!r}"
    raise ValueError(msg)


def sidecar_path(path: str) -> str:
    """The JSON sidecar beside a ``.nii``/``.nii.gz`` file."""
    stem = path[: -len(".nii.gz")] if path.endswith(".nii.gz") else path[: -len(".nii")]
    return stem + ".json"
