"""Fixtures for the oracle tests: a corpus of real CLI transcripts, built once per run."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from .corpus import CliCorpus, build_corpus


@pytest.fixture(scope="session")
def cli_corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliCorpus]:
    """Real transcripts written by the bundled ``claude`` CLI (see ``corpus.py``)."""
    try:
        from threadline.testing._claude_cli import claude_cli_path

        claude_cli_path()
    except Exception as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"bundled claude CLI unavailable: {exc}")
    corpus = build_corpus(tmp_path_factory.mktemp("cli-corpus"))
    try:
        yield corpus
    finally:
        if corpus.server is not None:
            corpus.server.stop()


@pytest.fixture
def corpus_env(cli_corpus: CliCorpus, monkeypatch: pytest.MonkeyPatch) -> CliCorpus:
    """The corpus, with CLAUDE_CONFIG_DIR pointing at it (read-only use!)."""
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(cli_corpus.config_dir))
    return cli_corpus


@pytest.fixture
def corpus_copy(
    cli_corpus: CliCorpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CliCorpus:
    """A private copy of the corpus config dir, for tests that write (fork, rename, tag)."""
    config = tmp_path / "corpus-config"
    shutil.copytree(cli_corpus.config_dir, config, symlinks=True)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))
    return CliCorpus(
        root=cli_corpus.root,
        config_dir=config,
        home=cli_corpus.home,
        tmpdir=cli_corpus.tmpdir,
        cwds=cli_corpus.cwds,
        sessions=cli_corpus.sessions,
        session_cwd=cli_corpus.session_cwd,
        prompts=cli_corpus.prompts,
        notes=cli_corpus.notes,
        server=cli_corpus.server,
        build_seconds=cli_corpus.build_seconds,
    )
