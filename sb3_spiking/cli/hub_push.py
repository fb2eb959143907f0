"""Push a trained agent (rl_zoo3 run folder or agent folder) to the Hugging Face Hub, or a whole collection of agent
folders (``trained_agents/``) to an organisation with ``--org``.

A run folder is packaged first (evaluated, model card written, see ``sb3_spiking.hub.package``); an agent folder in
the Hub layout is uploaded as it is.
"""

from __future__ import annotations

import argparse

from sb3_spiking.validation import check_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the parser of ``sb3-spiking push``"""
    parser.add_argument(
        "folder",
        metavar="RUN_FOLDER_OR_AGENT",
        help="rl_zoo3 run folder or agent folder (Hub layout); with --org, a folder of agent folders",
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--repo-id", help="ORG/NAME, by convention ORG/<algo>-<policy>-<env>")
    target.add_argument(
        "--org", help="push every agent folder under RUN_FOLDER_OR_AGENT (e.g. trained_agents) to ORG/<folder name>"
    )
    parser.add_argument("--revision", default=None, help="branch to push to (created when missing; default main)")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("-m", "--commit-message", default="Upload sb3-spiking agent", help="commit message")
    parser.add_argument("--token", default=None, help="Hub token (default: the saved login or HF_TOKEN)")
    parser.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT or huggingface.co)")
    parser.add_argument(
        "--n-eval-episodes", type=int, default=10, help="evaluation episodes of a run folder's results.json"
    )
    parser.add_argument("--command", default="", help="training command for the card (default: from args.yml)")


def run(args: argparse.Namespace) -> int:
    """
    :param args: the parsed arguments
    :return: exit status
    """
    from sb3_spiking.hub import push_collection, push_to_hub, read_agent

    hub_kwargs = dict(
        token=args.token,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
        endpoint=args.endpoint,
    )
    if args.org is not None:
        for repo_id, url in push_collection(args.folder, args.org, **hub_kwargs).items():
            print(f"{repo_id}: {url}")
        return 0
    package_kwargs = {}
    if read_agent(args.folder).run_folder:
        package_kwargs = {"n_eval_episodes": check_int("--n-eval-episodes", args.n_eval_episodes, minimum=1)}
        if args.command:
            package_kwargs["command"] = args.command
    print(push_to_hub(args.folder, args.repo_id, **hub_kwargs, **package_kwargs))
    return 0
