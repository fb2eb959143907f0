"""
Pushing agents to and loading them from the Hugging Face Hub (``huggingface_hub``: ``HfApi.create_repo`` +
``upload_folder``, ``snapshot_download``). Loading works from the local cache with ``HF_HUB_OFFLINE=1``.

Loading an agent unpickles its files (the model zip's ``data`` and ``vec_normalize.pkl``), as SB3's ``load`` does:
load agents from repositories you trust.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from sb3_spiking.hub.folder import load_local, read_agent
from sb3_spiking.hub.package import package

TRANSPORT_MODULES = ("httpx", "httpx2", "requests", "urllib3")
"""Packages whose exceptions are network failures (huggingface_hub's HTTP client raises them as they are)."""
IGNORED_FILES = ["*.mp4", ".gitattributes"]
"""Files of a repository that loading does not need."""


@contextlib.contextmanager
def _naming(repo_id: str, action: str) -> Iterator[None]:
    """Re-raise huggingface_hub's errors with the repo id; network failures as ``ConnectionError``."""
    try:
        yield
    except HfHubHTTPError as error:
        error.append_to_message(f"\n(sb3-spiking: {action} {repo_id!r})")
        raise
    except LocalEntryNotFoundError as error:
        raise LocalEntryNotFoundError(f"{action} {repo_id!r}: {error}") from error
    except Exception as error:
        if type(error).__module__.split(".")[0] not in TRANSPORT_MODULES:
            raise
        raise ConnectionError(f"{action} {repo_id!r}: {type(error).__name__}: {error}") from error


def _set_repo_id(card: Path, repo_id: str) -> None:
    """Point the usage lines of a model card at ``repo_id``."""
    text = card.read_text()
    text = re.sub(r'load_from_hub\("[^"]*"\)', f'load_from_hub("{repo_id}")', text)
    text = re.sub(r"--repo-id \S+`", f"--repo-id {repo_id}`", text)
    card.write_text(text)


def push_to_hub(
    model_or_folder: BaseAlgorithm | str | Path,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload sb3-spiking agent",
    *,
    env_id: str | None = None,
    endpoint: str | None = None,
    **package_kwargs: Any,
) -> str:
    """
    Upload an agent to the Hub: ``HfApi.create_repo(exist_ok=True)`` (and ``create_branch`` for a ``revision``),
    then ``upload_folder``. A model or an rl_zoo3 run folder is packaged first (:func:`~sb3_spiking.hub.package`,
    evaluated); an agent folder in the Hub layout is uploaded as it is, its card pointed at ``repo_id``.

    :param model_or_folder: a trained model, an rl_zoo3 run folder or an agent folder
    :param repo_id: ``<org>/<name>``, by convention ``<org>/<algo>-<policy>-<env>``
    :param token: Hub token (``None``: the saved login or ``HF_TOKEN``)
    :param private: create the repository private (ignored when it exists)
    :param revision: branch to push to (created from the default branch when missing); ``None``: ``main``
    :param commit_message: the commit message
    :param env_id: the env id when pushing a model (see :func:`~sb3_spiking.hub.package`)
    :param endpoint: Hub URL (``None``: ``HF_ENDPOINT`` or huggingface.co)
    :param package_kwargs: more arguments of :func:`~sb3_spiking.hub.package` (``vec_normalize``,
        ``n_eval_episodes``, ``command``, ...)
    :return: the URL of the commit
    """
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ValueError(f"repo_id must be '<org>/<name>', got {repo_id!r}")
    with tempfile.TemporaryDirectory() as tmp:
        if isinstance(model_or_folder, (str, Path)) and not read_agent(model_or_folder).run_folder:
            if env_id is not None or package_kwargs:
                raise ValueError(
                    f"{str(model_or_folder)!r} is an agent folder, uploaded as it is: env_id and package arguments "
                    f"({sorted(package_kwargs)}) apply to models and run folders only"
                )
            folder = Path(tmp) / Path(model_or_folder).name
            shutil.copytree(model_or_folder, folder)
        else:
            folder = package(model_or_folder, env_id, tmp, repo_id=repo_id, **package_kwargs)
        if (folder / "README.md").is_file():
            _set_repo_id(folder / "README.md", repo_id)
        api = HfApi(endpoint=endpoint, token=token)
        with _naming(repo_id, "pushing to"):
            api.create_repo(repo_id, private=private, exist_ok=True)
            if revision is not None:
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            info = api.upload_folder(
                repo_id=repo_id, folder_path=folder, commit_message=commit_message, revision=revision
            )
    return info.commit_url


def push_collection(
    folder: str | Path,
    organization: str,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload sb3-spiking agent",
    *,
    endpoint: str | None = None,
) -> dict[str, str]:
    """
    Upload every agent folder under ``folder`` (such as ``trained_agents/``) to ``<organization>/<folder name>`` with
    :func:`push_to_hub`, one repository per agent, in name order. Every sub-folder must be an agent folder in the Hub
    layout: the collection is checked whole before anything is uploaded.

    :param folder: a folder of agent folders
    :param organization: the Hub user or organisation the repositories go to
    :param token: Hub token (``None``: the saved login or ``HF_TOKEN``)
    :param private: create the repositories private (ignored for those that exist)
    :param revision: branch to push to in every repository; ``None``: ``main``
    :param commit_message: the commit message
    :param endpoint: Hub URL (``None``: ``HF_ENDPOINT`` or huggingface.co)
    :return: repo id -> URL of its commit
    """
    if not isinstance(organization, str) or not organization or "/" in organization:
        raise ValueError(f"organization must be a Hub user or organisation name without '/', got {organization!r}")
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"folder {str(folder)!r} is not a directory")
    agents = sorted(path for path in root.iterdir() if path.is_dir())
    if not agents:
        raise ValueError(f"folder {str(folder)!r} holds no agent folders")
    for agent in agents:
        if read_agent(agent).run_folder:  # read_agent raises for a folder that is neither
            raise ValueError(f"{str(agent)!r} is an rl_zoo3 run folder: package it first (sb3_spiking.hub.package)")
    return {
        f"{organization}/{agent.name}": push_to_hub(
            agent,
            f"{organization}/{agent.name}",
            token=token,
            private=private,
            revision=revision,
            commit_message=commit_message,
            endpoint=endpoint,
        )
        for agent in agents
    }


def pull(
    repo_id: str,
    local_dir: str | Path | None = None,
    revision: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """
    Download an agent (``snapshot_download``; from the cache when offline) and check that it is one.

    :param repo_id: ``<org>/<name>``
    :param local_dir: copy the files into this folder; ``None``: the Hugging Face cache
    :param revision: branch, tag or commit (``None``: ``main``)
    :param token: Hub token
    :param endpoint: Hub URL (``None``: ``HF_ENDPOINT`` or huggingface.co)
    :param cache_dir: the Hugging Face cache (``None``: ``HF_HOME``'s)
    :return: the agent folder
    """
    with _naming(repo_id, "downloading"):
        folder = snapshot_download(
            repo_id,
            revision=revision,
            local_dir=local_dir,
            cache_dir=cache_dir,
            token=token,
            endpoint=endpoint,
            ignore_patterns=IGNORED_FILES,
        )
    if not (Path(folder) / "config.yml").is_file():
        raise ValueError(f"{repo_id!r} is not an sb3-spiking agent: no config.yml (files: {_listing(folder)})")
    return Path(folder)


def _listing(folder: str | Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir() if not p.name.startswith("."))


def load_from_hub(
    repo_id: str,
    revision: str | None = None,
    device: str = "auto",
    env_kwargs: dict[str, Any] | None = None,
    *,
    seed: int | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    cache_dir: str | Path | None = None,
) -> tuple[BaseAlgorithm, VecEnv]:
    """
    Download an agent from the Hub and load it, ready to act. This unpickles the repository's files (as SB3's
    ``load`` does): load agents from repositories you trust.

    :param repo_id: ``<org>/<name>``
    :param revision: branch, tag or commit (``None``: ``main``)
    :param device: torch device of the model
    :param env_kwargs: keyword arguments of the env constructor, replacing the saved ones
    :param seed: seed of the evaluation env
    :param token: Hub token
    :param endpoint: Hub URL (``None``: ``HF_ENDPOINT`` or huggingface.co)
    :param cache_dir: the Hugging Face cache (``None``: ``HF_HOME``'s)
    :return: the model and an evaluation env (saved normalisation statistics applied and frozen, the observation
        wrapper of the recurrent off-policy algorithms included)
    """
    folder = pull(repo_id, revision=revision, token=token, endpoint=endpoint, cache_dir=cache_dir)
    return load_local(folder, seed=seed, device=device, env_kwargs=env_kwargs)
