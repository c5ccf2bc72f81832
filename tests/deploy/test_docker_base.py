"""The compose test's base image: the Dockerfile's default, the Debian mirror, the cache key."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.docker_base import (
    PACKAGES,
    BaseImageError,
    DebootstrapBase,
    cache_key,
    deb822_uris,
    debian_mirror,
    list_line_uris,
    official_base,
)

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_the_default_base_is_the_official_image_users_pull():
    assert official_base() == "python:3.11.11-slim-bookworm"


def test_a_dockerfile_without_the_argument_is_a_clear_error(tmp_path: Path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11.11-slim-bookworm\n")
    with pytest.raises(BaseImageError, match="ARG BASE_IMAGE"):
        official_base(dockerfile)


def test_deb822_sources_give_the_mirror_of_the_suite_itself():
    assert deb822_uris(DEB822, "bookworm") == ["http://mirror.example/debian"]
    assert deb822_uris(DEB822, "trixie") == []
    assert deb822_uris("Types: deb-src\nURIs: http://x/\nSuites: bookworm\n", "bookworm") == []


def test_one_line_sources_skip_options_comments_and_other_suites():
    text = (
        "# deb http://commented.example/debian bookworm main\n"
        "deb-src http://source.example/debian bookworm main\n"
        "deb http://updates.example/debian bookworm-updates main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n"
    )
    assert list_line_uris(text, "bookworm") == ["http://mirror.example/debian"]


def test_the_mirror_is_read_from_the_apt_sources_at_run_time(tmp_path: Path):
    sources_dir = tmp_path / "sources.list.d"
    sources_dir.mkdir()
    (sources_dir / "debian.sources").write_text(DEB822)
    (sources_dir / "other.list.disabled").write_text("deb http://no.example/ bookworm main\n")
    missing = tmp_path / "sources.list"
    assert debian_mirror("bookworm", missing, sources_dir) == "http://mirror.example/debian"
    with pytest.raises(BaseImageError, match="no Debian mirror for trixie"):
        debian_mirror("trixie", missing, sources_dir)


def test_the_cache_key_changes_with_every_input_and_only_then():
    certificates = {"/etc/ssl/certs/ca-certificates.crt": b"bundle"}
    key = cache_key("http://a/debian", PACKAGES, certificates)
    assert key == cache_key("http://a/debian", tuple(reversed(PACKAGES)), dict(certificates))
    assert key != cache_key("http://b/debian", PACKAGES, certificates)
    assert key != cache_key("http://a/debian", (*PACKAGES, "curl"), certificates)
    assert key != cache_key("http://a/debian", PACKAGES, {**certificates, "/x.crt": b"extra"})
    changed = {"/etc/ssl/certs/ca-certificates.crt": b"another bundle"}
    assert key != cache_key("http://a/debian", PACKAGES, changed)


def test_the_cached_tarball_and_image_are_named_by_the_key(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    base = DebootstrapBase("http://a/debian", {"/etc/ssl/certs/ca-certificates.crt": b"x"})
    assert base.tarball.parent == tmp_path / "transport-bench" / "docker-base"
    assert base.key in base.tarball.name
    assert base.image.endswith(base.key)
    base.tarball.parent.mkdir(parents=True)
    base.tarball.write_bytes(b"a rootfs made before")
    assert base.make_tarball() == base.tarball  # cached: no debootstrap
    assert base.tarball.read_bytes() == b"a rootfs made before"
