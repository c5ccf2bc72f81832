"""Built images kept between `make compose-test` runs, for a dockerd whose data-root is new.

The dockerd started here begins empty each run, so without this every run would reinstall
every dependency. After a build, the base and the images are saved (`docker save`) under a
key of what their dependency layers are made from (base, Dockerfiles, requirements.lock);
the next run loads them and builds with `--cache-from`, so only the project's own layers are
rebuilt. A saved set of another key is removed: one set is kept.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from devtools.docker_base import cache_dir


@dataclass(frozen=True, slots=True)
class ImageCache:
    """One saved set of images, named by the key of their inputs."""

    key: str
    directory: Path

    @property
    def archive(self) -> Path:
        """The `docker save` archive."""
        return self.directory / f"images-{self.key}.tar"

    def load(self, env: Mapping[str, str]) -> bool:
        """Load the saved images if there are any; whether it did."""
        if not self.archive.exists():
            return False
        done = subprocess.run(
            ["docker", "load", "--quiet", "--input", str(self.archive)],
            env=dict(env),
            capture_output=True,
        )
        return done.returncode == 0

    def save(self, images: Iterable[str], env: Mapping[str, str]) -> None:
        """Save `images` (complete or not at all), and drop sets of other keys."""
        if self.archive.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.archive.with_suffix(".partial")
        subprocess.run(
            ["docker", "save", "--output", str(partial), *images],
            env=dict(env),
            check=True,
            capture_output=True,
        )
        partial.rename(self.archive)
        for other in self.directory.glob("images-*.tar"):
            if other != self.archive:
                other.unlink()


def image_cache(base_image: str, inputs: Iterable[Path]) -> ImageCache:
    """The cache for images built on `base_image` from these files (Dockerfiles, pins)."""
    digest = hashlib.sha256(base_image.encode() + b"\0")
    for path in inputs:
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return ImageCache(digest.hexdigest()[:16], cache_dir().parent / "docker-images")
