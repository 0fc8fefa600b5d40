"""Photo benchmark: our process_photo against the plain Pillow recipe and ImageMagick on 12 MP EXIF-rotated JPEGs."""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

import numpy as np
from PIL import ExifTags, Image, ImageOps

from bench.figures import figure, median_seconds
from config import Settings
from service.imaging import ProcessedPhoto, process_photo

WIDTH, HEIGHT = 4032, 3024  # a 12-megapixel phone sensor; the pixels are stored landscape whatever the tag says
ORIENTATIONS = (1, 6, 3, 8, 6, 1)  # one photo each; 6 (phone held upright) is the commonest after 1
NOISE_SIGMA = (7.0, 8.0, 9.0, 10.0, 8.0, 9.0)  # gaussian sensor noise per photo, 0-255 scale
FILE_MB = (3.0, 5.0)  # what a phone's 12 MP JPEG weighs; the generated files must fall in this range
REPEAT = 3  # timed runs per photo and way, after one warm-up
MAX_PIXELS = 100_000_000  # the service's default MAX_PHOTO_PIXELS
DECODE_BUDGET = Settings.max_decode_mb * 1024 * 1024  # the service's default MAX_DECODE_MB
TZ = "Asia/Shanghai"
IMAGEMAGICK_VERSION = re.compile(r"^Version: ImageMagick.*$", re.MULTILINE)
APT_INSTALL = "apt-get update && apt-get install -y imagemagick"


@dataclass(frozen=True)
class Result:
    """One photo's median times (seconds) for the three ways, and how close our web copy is to the recipe's."""

    ours: float
    recipe: float
    magick: float | None
    mad: float
    ssim: float


def imagemagick_version() -> str | None:
    """The `Version: ImageMagick ...` line of `convert -version`, or None when convert is not ImageMagick."""
    try:
        done = subprocess.run(["convert", "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = IMAGEMAGICK_VERSION.search(done.stdout)
    return found.group(0) if done.returncode == 0 and found else None


def install_imagemagick() -> bool:
    """Install Debian's imagemagick package with apt-get (needs root); whether apt-get succeeded."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        print("bench: cannot install ImageMagick here (needs apt-get and root)", flush=True)
        return False
    print(f"bench: running `{APT_INSTALL}` ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(APT_INSTALL, shell=True, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(f"bench: apt-get failed (exit {done.returncode}):\n{done.stderr.strip()[-2000:]}", flush=True)
    return done.returncode == 0


def ensure_imagemagick() -> bool:
    """Whether a real ImageMagick `convert` is on PATH, after installing it when it is not."""
    version = imagemagick_version()
    if version is None:
        print("bench: `convert` here is not ImageMagick (`convert -version` does not say so)", flush=True)
        version = imagemagick_version() if install_imagemagick() else None
    if version:
        print(f"bench: ImageMagick: {version}", flush=True)
    else:
        print("bench: ImageMagick is not available: photo_vs_imagemagick will be reported missing", flush=True)
    return bool(version)


def phone_exif(orientation: int, day: int) -> Image.Exif:
    """The EXIF a phone writes: the orientation tag, when (local time, no offset) and where (near Nantong)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = f"2026:11:{day:02d} 09:30:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "N", (32.0, 0.0, 54.0)
    gps[ExifTags.GPS.GPSLongitudeRef], gps[ExifTags.GPS.GPSLongitude] = "E", (120.0, 51.0, 18.0)
    return exif


def photo_pixels(rng: np.random.Generator, sigma: float) -> Image.Image:
    """A photo-like 12 MP picture: a smooth random colour field (bicubic from 32x24) plus gaussian sensor noise."""
    coarse = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    field = np.asarray(coarse.resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), dtype=np.float32)
    field += rng.standard_normal(field.shape, dtype=np.float32) * np.float32(sigma)
    return Image.fromarray(np.clip(np.rint(field), 0, 255).astype(np.uint8))


def make_photos(folder: Path, rng: np.random.Generator) -> list[Path]:
    """Write the benchmark's JPEGs (quality 90, EXIF-rotated) into folder, printing and checking their sizes."""
    paths = []
    for n, (orientation, sigma) in enumerate(zip(ORIENTATIONS, NOISE_SIGMA), start=1):
        path = folder / f"photo{n}.jpg"
        photo_pixels(rng, sigma).save(path, "JPEG", quality=90, exif=phone_exif(orientation, n))
        megabytes = path.stat().st_size / 1e6
        print(f"photo {n}: {WIDTH}x{HEIGHT}, orientation {orientation}, noise sigma {sigma:g}, {megabytes:.2f} MB",
              flush=True)
        assert FILE_MB[0] <= megabytes <= FILE_MB[1], f"photo {n} is {megabytes:.2f} MB, not a phone-sized file"
        paths.append(path)
    return paths


def jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    """The image saved as a JPEG of that quality, Pillow's defaults otherwise."""
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def ours(path: Path) -> ProcessedPhoto:
    """Our pipeline, as the worker calls it."""
    return process_photo(path, MAX_PIXELS, TZ, DECODE_BUDGET)


def recipe(path: Path) -> tuple[bytes, bytes]:
    """The straightforward Pillow recipe: open, exif_transpose, thumbnail 1600 (q82), then thumbnail 320 (q75)."""
    with Image.open(path) as img:
        upright = ImageOps.exif_transpose(img)
    upright.thumbnail((1600, 1600))
    web = jpeg_bytes(upright, 82)
    upright.thumbnail((320, 320))
    return web, jpeg_bytes(upright, 75)


def imagemagick(path: Path, folder: Path) -> tuple[Path, Path]:
    """FixMyStreet's two convert calls: an upright stripped copy within 2048 px, then one within 250 px of it."""
    big, small = folder / "big.jpg", folder / "small.jpg"
    subprocess.run(["convert", str(path), "-auto-orient", "-scale", "2048x2048>", "-strip", str(big)], check=True)
    subprocess.run(["convert", str(big), "-scale", "250x250>", "-strip", str(small)], check=True)
    return big, small


def image_size(data: bytes | Path) -> tuple[int, int]:
    """The pixel size of a JPEG given as bytes or a path."""
    with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as img:
        return img.size


def decoded(jpeg: bytes, mode: str) -> np.ndarray:
    """A JPEG decoded to an array in the given Pillow mode ("RGB" or "L")."""
    with Image.open(io.BytesIO(jpeg)) as img:
        return np.asarray(img.convert(mode), dtype=np.float64)


def box_mean(a: np.ndarray, k: int) -> np.ndarray:
    """The mean of every k x k window lying inside a, from an integral image."""
    c = np.pad(a, ((1, 0), (1, 0))).cumsum(axis=0).cumsum(axis=1)
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)


def ssim(x: np.ndarray, y: np.ndarray, k: int = 8) -> float:
    """The mean SSIM (Wang et al. 2004) of two luma pictures over sliding k x k windows, 0-255 scale."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = box_mean(x, k), box_mean(y, k)
    vx, vy = box_mean(x * x, k) - mx * mx, box_mean(y * y, k) - my * my
    cov = box_mean(x * y, k) - mx * my
    index = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(index.mean())


def check_magick_output(big: Path, small: Path, upright_size: tuple[int, int]) -> None:
    """ImageMagick's copies are upright (same aspect as ours) and within 2048 / 250 px."""
    portrait = upright_size[1] > upright_size[0]
    for path, long_side in ((big, 2048), (small, 250)):
        width, height = image_size(path)
        assert max(width, height) == long_side and (height > width) == portrait, (path.name, width, height)


def dims(size: tuple[int, int]) -> str:
    """A pixel size as WxH."""
    return f"{size[0]}x{size[1]}"


def ms(seconds: float | None) -> str:
    """A time in milliseconds, or `missing`."""
    return "missing" if seconds is None else f"{seconds * 1000:.1f} ms"


def compare(n: int, path: Path, folder: Path, magick: bool) -> tuple[float, float]:
    """Check the three ways' outputs on one photo and print their sizes; our web copy's MAD and SSIM to the recipe's."""
    mine, (web, thumb) = ours(path), recipe(path)
    assert mine.gps is not None and mine.taken_at is not None, "our pipeline lost the EXIF GPS or time"
    assert image_size(mine.web) == mine.web_size, (image_size(mine.web), mine.web_size)
    assert mine.web_size == image_size(web), f"web sizes differ: ours {mine.web_size}, recipe {image_size(web)}"
    if magick:
        check_magick_output(*imagemagick(path, folder), mine.web_size)
    mad = float(np.abs(decoded(mine.web, "RGB") - decoded(web, "RGB")).mean())
    similarity = ssim(decoded(mine.web, "L"), decoded(web, "L"))
    print(f"photo {n}: web {dims(mine.web_size)} (recipe {dims(image_size(web))}), "
          f"thumb {dims(image_size(mine.thumb))} (recipe {dims(image_size(thumb))}); "
          f"web vs recipe: MAD {mad:.2f}, luma SSIM {similarity:.4f}", flush=True)
    return mad, similarity


def bench_photo(n: int, path: Path, folder: Path, magick: bool) -> Result:
    """Time the three ways on one photo and compare their outputs, printing the photo's lines."""
    ways = {"ours": lambda: ours(path), "recipe": lambda: recipe(path)}
    if magick:
        ways["imagemagick"] = lambda: imagemagick(path, folder)
    spent = median_seconds(ways, REPEAT)
    print(f"photo {n}: ours {ms(spent['ours'])}, recipe {ms(spent['recipe'])}, "
          f"imagemagick {ms(spent.get('imagemagick'))} (median of {REPEAT} after a warm-up)", flush=True)
    mad, similarity = compare(n, path, folder, magick)
    return Result(spent["ours"], spent["recipe"], spent.get("imagemagick"), mad, similarity)


def report(results: list[Result]) -> None:
    """Print the mean per-photo times and the figures."""
    ours_s, recipe_s = fmean(r.ours for r in results), fmean(r.recipe for r in results)
    magick_s = None if results[0].magick is None else fmean(r.magick for r in results)
    print(f"mean per photo over {len(results)} photos: ours {ms(ours_s)}, recipe {ms(recipe_s)}, "
          f"imagemagick {ms(magick_s)}", flush=True)
    figure("photo_speedup", recipe_s / ours_s, ">=", 2.5)
    figure("photo_vs_imagemagick", None if magick_s is None else magick_s / ours_s, ">=", 4)
    figure("photo_web_mad", fmean(r.mad for r in results), "<=", 3)
    figure("photo_web_ssim", fmean(r.ssim for r in results), ">=", 0.95)


def main() -> None:
    """Make the photos in a temporary folder, run the three ways on each, print the times and figures."""
    magick = ensure_imagemagick()
    rng = np.random.default_rng(2026)
    with tempfile.TemporaryDirectory(prefix="bench-photos-") as tmp:
        folder = Path(tmp)
        paths = make_photos(folder, rng)
        results = [bench_photo(n, path, folder, magick) for n, path in enumerate(paths, start=1)]
    report(results)


if __name__ == "__main__":
    main()
