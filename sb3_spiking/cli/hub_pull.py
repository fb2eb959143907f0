"""Download an agent from the Hugging Face Hub into a folder (or the Hugging Face cache).

Loading the agent afterwards unpickles its files: pull agents you trust.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """:param parser: the parser of ``sb3-spiking pull``"""
    parser.add_argument("repo_id", metavar="ORG/NAME", help="the agent's repository")
    parser.add_argument("-o", "--output", default=None, help="folder for the files (default: ./NAME)")
    parser.add_argument("--revision", default=None, help="branch, tag or commit (default main)")
    parser.add_argument("--token", default=None, help="Hub token (default: the saved login or HF_TOKEN)")
    parser.add_argument("--endpoint", default=None, help="Hub URL (default: HF_ENDPOINT or huggingface.co)")


def run(args: argparse.Namespace) -> int:
    """
    :param args: the parsed arguments
    :return: exit status
    """
    from sb3_spiking.hub import pull

    output = args.output or args.repo_id.split("/")[-1]
    folder = pull(args.repo_id, local_dir=output, revision=args.revision, token=args.token, endpoint=args.endpoint)
    print(folder)
    return 0
