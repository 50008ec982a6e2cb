"""The image is small, multi-stage and non-root, and its entrypoint is the console script
the project declares, so `docker run IMAGE placement --config …` runs `spillway run placement`."""

from __future__ import annotations

import fnmatch
import tomllib

from tests.ship.dockerfile import DOCKERFILE, entrypoint, exec_form, final_stage, instructions
from tests.ship.render import REPO


def test_two_stages_on_python_slim() -> None:
    bases = [args.split()[0] for word, args in instructions() if word == "FROM"]
    assert bases == ["python:3.11-slim", "python:3.11-slim"]


def test_final_stage_runs_as_a_numeric_non_root_user() -> None:
    users = [args for word, args in final_stage() if word == "USER"]
    assert users, "no USER in the final stage"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can verify it


def test_entrypoint_is_the_declared_console_script() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert entrypoint() == ["spillway", "run"]
    assert scripts["spillway"] == "spillway.cli:main"
    (cmd,) = [a for word, a in final_stage() if word == "CMD"]
    assert exec_form(cmd) == ["--help"]


def test_no_pip_cache_and_offline_install_from_the_build_stage() -> None:
    steps = final_stage()
    env = " ".join(a for word, a in steps if word == "ENV")
    assert "PIP_NO_CACHE_DIR=1" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    (run,) = [a for word, a in steps if word == "RUN"]
    assert "--no-index" in run and "from=build" in run


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        if fnmatch.fnmatch(path, pattern.lstrip("!")):
            ignored = not negate
    return ignored


def test_every_copied_path_exists_and_reaches_the_build_context() -> None:
    patterns = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
                if ln.strip() and not ln.startswith("#")]
    copies = [args.split() for word, args in instructions() if word == "COPY" and "--from" not in args]
    sources = [src for args in copies for src in args[:-1]]
    assert set(sources) == {"pyproject.toml", "README.md", "libs", "services"}
    for src in sources:
        assert (REPO / src).exists(), src
        assert not _ignored(src, patterns), f"{src} is excluded by .dockerignore"
    for unwanted in (".venv", ".git", "tests", "k8s"):
        assert _ignored(unwanted, patterns), unwanted
    assert DOCKERFILE.exists()
