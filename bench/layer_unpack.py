"""Layer unpack speed: one ~100 MB layer applied with ``dockyard.core.layers.apply``.

The layer is made here (no network): ``--files`` regular files of mixed sizes in nested
directories, with symlinks, hard links and a few whiteouts, about ``--mb`` MB of content, as a
plain tar and a gzip tar. Each is unpacked ``--runs`` times into a fresh directory (DELETE whiteouts:
a full tree, as the copy snapshotter; OVERLAY needs root and writes the same files). GNU tar's time
on the plain tar is the floor. Compare two versions of the code by running the script under each
(``PYTHONPATH=<other checkout>/src``)::

    .venv/bin/python bench/layer_unpack.py --runs 3 --dir /dev/shm
    PYTHONPATH=/tmp/base/src .venv/bin/python bench/layer_unpack.py --runs 3 --dir /dev/shm
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from dockyard.core.layers.apply import Whiteouts, apply_layer


def make_layer(path: Path, *, mb: int, files: int) -> None:
    rng = random.Random(42)
    mean = (mb << 20) // files
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in range(files // 50 + 1):
            info = tarfile.TarInfo(f"usr/lib/d{d // 10}/s{d}")
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for i in range(files):
            name = f"usr/lib/d{(i // 50) // 10}/s{i // 50}/f{i}"
            size = min(int(rng.expovariate(1 / mean)), 8 * mean)
            info = tarfile.TarInfo(name)
            info.size, info.mode = size, 0o644
            tar.addfile(info, io.BytesIO(rng.randbytes(size)))
            if i % 40 == 0:
                link = tarfile.TarInfo(name + ".lnk")
                link.type, link.linkname = tarfile.SYMTYPE, f"f{i}"
                tar.addfile(link)
            if i % 97 == 0:
                hard = tarfile.TarInfo(name + ".hard")
                hard.type, hard.linkname = tarfile.LNKTYPE, name
                tar.addfile(hard)
        for i in range(10):
            tar.addfile(tarfile.TarInfo(f"usr/lib/d0/s0/.wh.gone{i}"))


def time_apply(layer: Path, work: Path, runs: int) -> list[float]:
    times = []
    for n in range(runs):
        dest = work / f"apply-{n}"
        started = time.perf_counter()
        apply_layer(layer, dest, whiteouts=Whiteouts.DELETE)
        times.append(time.perf_counter() - started)
        shutil.rmtree(dest)
    return times


def time_gnu_tar(layer: Path, work: Path, runs: int) -> list[float]:
    times = []
    for n in range(runs):
        dest = work / f"tar-{n}"
        dest.mkdir()
        started = time.perf_counter()
        subprocess.run(["tar", "-xf", str(layer), "-C", str(dest)], check=True, timeout=600)
        times.append(time.perf_counter() - started)
        shutil.rmtree(dest)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--files", type=int, default=7500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--dir", default="/var/tmp", help="where to unpack (/dev/shm: no disk I/O)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dyc-bench-unpack-", dir=args.dir) as tmp:
        work = Path(tmp)
        plain, packed = work / "layer.tar", work / "layer.tar.gz"
        make_layer(plain, mb=args.mb, files=args.files)
        with plain.open("rb") as src, gzip.open(packed, "wb", compresslevel=1) as dst:
            shutil.copyfileobj(src, dst)
        result = {
            "layer_mb": round(plain.stat().st_size / 2**20, 1),
            "plain_s": statistics.median(time_apply(plain, work, args.runs)),
            "gzip_s": statistics.median(time_apply(packed, work, args.runs)),
            "gnu_tar_s": statistics.median(time_gnu_tar(plain, work, args.runs)),
            "uid": os.geteuid(),
        }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
