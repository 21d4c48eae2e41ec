"""Resumable, verified downloads and atomic zip extraction."""
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from tfsr.data.images import DataError
from tfsr.progress import progress_bar

_CHUNK = 1 << 20


def download(url, dest, size=None, sha256=None, progress=True, timeout=60):
    """Download ``url`` to ``dest``, resuming a previous partial download.

    Bytes go to ``dest.part`` (continued with an HTTP Range request when it
    exists); the file is checked against ``size`` and ``sha256`` and only
    then renamed to ``dest``. A failed check deletes the partial file.
    """
    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={start}-"} if start else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(f"cannot download {url} ({reason})") from None
    with response:
        if start and response.status != 206:  # the server ignored the range: start over
            start = 0
        total = size or (start + int(response.headers.get("Content-Length", 0))) or None
        with open(part, "ab" if start else "wb") as f, progress_bar(
                total=total, initial=start, unit="B", unit_scale=True, desc=dest.name,
                disable=not progress) as bar:
            while chunk := response.read(_CHUNK):
                f.write(chunk)
                bar.update(len(chunk))
    _verify(part, url, size, sha256)
    os.replace(part, dest)
    return dest


def _verify(path, url, size, sha256):
    actual = path.stat().st_size
    if size is not None and actual != size:
        if actual > size:
            path.unlink()
        raise DataError(f"{url}: got {actual} bytes, expected {size} "
                        f"({'partial file kept, run again to resume' if actual < size else 'deleted'})")
    if sha256 is not None:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            path.unlink()
            raise DataError(f"{url}: checksum mismatch (sha256 {digest.hexdigest()}, "
                            f"expected {sha256}); the download was deleted")


def extract(archive, member_dir, root):
    """Extract folder ``member_dir`` of a zip into ``root/member_dir`` atomically."""
    root = Path(root)
    target = root / member_dir
    staging = Path(tempfile.mkdtemp(prefix=".extract.", dir=root))
    try:
        try:
            with zipfile.ZipFile(archive) as zf:
                members = [m for m in zf.namelist() if m.startswith(member_dir.rstrip("/") + "/")]
                if not members:
                    raise DataError(f"{archive}: has no folder {member_dir}")
                zf.extractall(staging, members)
        except zipfile.BadZipFile as e:
            raise DataError(f"{archive}: not a valid zip file ({e})") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / member_dir, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
