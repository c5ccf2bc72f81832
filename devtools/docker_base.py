"""The Dockerfile's base image for `make compose-test`: pulled, or made with debootstrap.

When a registry answers, the official image the Dockerfile names (its BASE_IMAGE default) is
pulled. Otherwise a Debian bookworm root filesystem is made with debootstrap from the
machine's own Debian mirror (read from its apt sources), with the machine's CA certificates
(pip and apt inside the build go through whatever TLS the host trusts), and imported. The
rootfs tarball is cached under ~/.cache by a key of everything that goes into it, so only the
first run pays for debootstrap.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
SUITE = "bookworm"  # the official image's Debian release
PACKAGES = ("python3", "python3-venv", "ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_CA_DIR = Path("/usr/local/share/ca-certificates")  # the host's own additions
APT_SOURCES = Path("/etc/apt/sources.list")
APT_SOURCES_DIR = Path("/etc/apt/sources.list.d")
PULL_TIMEOUT_S = 120.0
CACHE_FORMAT = "1"  # bump when the way the rootfs is made changes


class BaseImageError(RuntimeError):
    """No base image could be pulled or made; the message says why."""


def official_base(dockerfile: Path = DOCKERFILE) -> str:
    """The base image the Dockerfile defaults to (`ARG BASE_IMAGE=...`)."""
    match = re.search(r"^ARG BASE_IMAGE=(\S+)$", dockerfile.read_text(), re.MULTILINE)
    if match is None:
        raise BaseImageError(f"{dockerfile} has no `ARG BASE_IMAGE=<default>`")
    return match.group(1)


def list_line_uris(text: str, suite: str) -> list[str]:
    """Mirror URIs of one-line `deb [options] URI SUITE COMPONENTS...` entries for `suite`."""
    uris = []
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
            uris.append(words[1])
    return uris


def deb822_uris(text: str, suite: str) -> list[str]:
    """Mirror URIs of deb822 (`.sources`) stanzas of type deb that list `suite`."""
    uris = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, value = line.split(":", 1)
            fields[key.strip().lower()] = value.strip()
        if "deb" in fields.get("types", "").split() and suite in fields.get("suites", "").split():
            uris.extend(fields.get("uris", "").split())
    return uris


def debian_mirror(
    suite: str = SUITE, sources: Path = APT_SOURCES, sources_dir: Path = APT_SOURCES_DIR
) -> str:
    """The first Debian mirror this machine's apt sources use for `suite`."""
    found: list[str] = []
    if sources.is_file():
        found += list_line_uris(sources.read_text(), suite)
    if sources_dir.is_dir():
        for path in sorted(sources_dir.iterdir()):
            if path.suffix == ".list":
                found += list_line_uris(path.read_text(), suite)
            elif path.suffix == ".sources":
                found += deb822_uris(path.read_text(), suite)
    if not found:
        raise BaseImageError(
            f"no Debian mirror for {suite} in {sources} or {sources_dir}: debootstrap needs one"
        )
    return found[0]


def host_certificates() -> dict[str, bytes]:
    """The host's CA files to copy into the rootfs, by their path there."""
    files = {str(HOST_CA_BUNDLE): HOST_CA_BUNDLE.read_bytes()}
    if HOST_CA_DIR.is_dir():
        for path in sorted(HOST_CA_DIR.rglob("*.crt")):
            files[str(path)] = path.read_bytes()
    return files


def cache_key(mirror: str, packages: Iterable[str], certificates: Mapping[str, bytes]) -> str:
    """A key of everything the rootfs is made from: suite, mirror, packages, certificates."""
    digest = hashlib.sha256()
    for part in [CACHE_FORMAT, SUITE, mirror, *sorted(packages)]:
        digest.update(part.encode() + b"\0")
    for path in sorted(certificates):
        digest.update(path.encode() + b"\0" + hashlib.sha256(certificates[path]).digest())
    return digest.hexdigest()[:16]


def cache_dir() -> Path:
    """Where rootfs tarballs are kept between runs."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "transport-bench" / "docker-base"


@dataclass(frozen=True, slots=True)
class DebootstrapBase:
    """A Debian-made base: where its tarball is cached and the image name it is imported as."""

    mirror: str
    certificates: Mapping[str, bytes]

    @property
    def key(self) -> str:
        """The content key of the rootfs."""
        return cache_key(self.mirror, PACKAGES, self.certificates)

    @property
    def tarball(self) -> Path:
        """The cached rootfs tarball."""
        return cache_dir() / f"{SUITE}-{self.key}.tar"

    @property
    def image(self) -> str:
        """The image name it is imported as."""
        return f"transport-bench-base:{SUITE}-{self.key}"

    def make_tarball(self) -> Path:
        """debootstrap the rootfs, add the host's certificates, tar it (unless cached)."""
        if self.tarball.exists():
            return self.tarball
        self.tarball.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=self.tarball.parent))
        try:
            rootfs = work / "rootfs"
            argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}"]
            done = subprocess.run(
                [*argv, SUITE, str(rootfs), self.mirror], capture_output=True, text=True
            )
            if done.returncode != 0:
                raise BaseImageError(f"debootstrap failed:\n{(done.stdout + done.stderr)[-3000:]}")
            for path, content in self.certificates.items():
                inside = rootfs / path.lstrip("/")
                inside.parent.mkdir(parents=True, exist_ok=True)
                inside.write_bytes(content)
            partial = work / "rootfs.tar"
            subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
            partial.rename(self.tarball)  # complete or absent: an interrupted run leaves none
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return self.tarball


def has_image(image: str, env: Mapping[str, str]) -> bool:
    """Whether the engine has `image` already."""
    done = subprocess.run(["docker", "image", "inspect", image], env=dict(env), capture_output=True)
    return done.returncode == 0


def pull(image: str, env: Mapping[str, str]) -> str | None:
    """Pull `image`; None (with the reason) if no registry gives it."""
    if has_image(image, env):
        return None
    try:
        done = subprocess.run(
            ["docker", "pull", "--quiet", image],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=PULL_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return f"docker pull {image}: no answer in {PULL_TIMEOUT_S:.0f} s"
    return None if done.returncode == 0 else (done.stderr.strip() or f"docker pull {image} failed")


@dataclass(frozen=True, slots=True)
class BaseChoice:
    """The base image chosen, and why (for the summary)."""

    image: str
    pulled: bool
    note: str


def base_image(env: Mapping[str, str], registry: bool = True) -> BaseChoice:
    """The official base if it can be pulled (`registry`: try), else the debootstrap one."""
    official = official_base()
    why = pull(official, env) if registry else "registry not tried"
    if why is None:
        return BaseChoice(official, pulled=True, note=f"{official} (registry)")
    made = DebootstrapBase(debian_mirror(), host_certificates())
    cached = made.tarball.exists()
    if not has_image(made.image, env):
        tarball = made.make_tarball()
        with tarball.open("rb") as data:
            subprocess.run(
                ["docker", "import", "-", made.image],
                stdin=data,
                env=dict(env),
                check=True,
                capture_output=True,
            )
    source = "cached" if cached else "made now"
    return BaseChoice(made.image, pulled=False, note=f"{made.image} (debootstrap, {source}; {why})")
