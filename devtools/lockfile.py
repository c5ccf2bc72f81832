"""requirements.lock: the runtime dependencies' exact versions, taken from the current venv.

The Docker image installs with `pip install -c requirements.lock .`, so it runs the versions
the tests ran with. `make lock` regenerates the file (`python -m devtools.lockfile --output
requirements.lock`): the closure of pyproject.toml's `dependencies` (extras included, dev
extras not) over the installed distributions, pinned `name==version`, sorted.
"""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from contract.results import write_bytes_atomic

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
HEADER = (
    "# The runtime dependencies' versions, from the development venv: `make lock` writes it.\n"
    "# The Docker image installs `pip install -c requirements.lock .` (markers evaluated for\n"
    "# Linux, CPython 3.11; a platform that needs more installs that unpinned).\n"
)


class LockError(RuntimeError):
    """A dependency the project needs is not installed in this environment."""


def runtime_requirements(pyproject: Path = PYPROJECT) -> list[Requirement]:
    """The `[project] dependencies` of pyproject.toml."""
    project = tomllib.loads(pyproject.read_text())["project"]
    return [Requirement(text) for text in project.get("dependencies", [])]


def _applies(requirement: Requirement, extras: frozenset[str]) -> bool:
    """Whether a requirement holds here for a distribution installed with `extras`."""
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({"extra": extra}) for extra in extras or {""})


def pinned_closure(roots: Sequence[Requirement]) -> dict[str, str]:
    """Every distribution `roots` need, transitively, as {canonical name: installed version}."""
    pins: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [(r, frozenset(r.extras)) for r in roots if _applies(r, frozenset())]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise LockError(f"{requirement} is needed but not installed: `make install`") from None
        pins[name] = distribution.version
        for text in distribution.requires or []:
            child = Requirement(text)
            if _applies(child, extras):
                pending.append((child, frozenset(child.extras)))
    return pins


def render(pins: dict[str, str]) -> str:
    """The lock file's text."""
    return HEADER + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def main(argv: Sequence[str] | None = None) -> None:
    """Write (or print) requirements.lock for the installed environment."""
    parser = argparse.ArgumentParser(prog="python -m devtools.lockfile", description=__doc__)
    parser.add_argument("--pyproject", type=Path, default=PYPROJECT)
    parser.add_argument("--output", type=Path, help="write here (atomically); stdout otherwise")
    args = parser.parse_args(argv)
    text = render(pinned_closure(runtime_requirements(args.pyproject)))
    if args.output is None:
        print(text, end="")
    else:
        write_bytes_atomic(args.output, text.encode())


if __name__ == "__main__":
    main()
