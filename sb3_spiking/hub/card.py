"""The model card (``README.md``) of an agent, built with ``huggingface_hub``'s card API."""

from __future__ import annotations

from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from stable_baselines3.common.base_class import BaseAlgorithm

TAGS = ("reinforcement-learning", "stable-baselines3", "spiking-neural-networks", "sb3-spiking")
# constructor parameters every SB3 policy has, left out of the card's spiking configuration
GENERIC_PARAMETERS = (
    "observation_space",
    "action_space",
    "lr_schedule",
    "normalize_images",
    "optimizer_class",
    "optimizer_kwargs",
    "features_extractor",
    "features_extractor_class",
    "features_extractor_kwargs",
    "share_features_extractor",
    "compile_network",
    "state_dim",
)
# shown first, in this order, when the policy has them
SPIKING_FIRST = (
    "core",
    "neuron",
    "surrogate",
    "spike_ts",
    "encoder",
    "encoder_pop_dim",
    "decoder_pop_dim",
    "n_neurons",
    "hidden_sizes",
    "hidden_size",
    "lstm_hidden_size",
    "cell_kwargs",
    "core_kwargs",
    "agent_kwargs",
)


def _plain(value: Any) -> Any:
    if isinstance(value, type):
        return value.__name__
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def policy_settings(model: BaseAlgorithm) -> dict[str, Any]:
    """
    :param model: the agent
    :return: the policy's settings (spiking neuron, surrogate, T, population sizes, core, ...) as plain values, the
        spiking ones first
    """
    parameters = model.policy._get_constructor_parameters()
    settings = {key: _plain(value) for key, value in parameters.items() if key not in GENERIC_PARAMETERS}
    first = [key for key in SPIKING_FIRST if key in settings]
    return {key: settings[key] for key in [*first, *(k for k in settings if k not in first)]}


def _energy_text(energy: dict[str, Any]) -> str:
    per_decision = energy.get("energy_pj_per_decision")
    if per_decision is None:
        return "\n".join(f"- {key}: {value}" for key, value in energy.items() if not isinstance(value, (list, dict)))
    text = f"**{per_decision:,.0f} pJ per decision**"
    if "sops_per_decision" in energy:
        macs = energy.get("macs_per_decision", 0)
        text += f" ({energy['sops_per_decision']:,.0f} synaptic operations, {macs:,.0f} MACs)"
    if "network" in energy:
        text += f" for the {energy['network']}"
    if "decisions" in energy:
        text += f", counted over {energy['decisions']} decisions of the deterministic policy in its env"
    if energy.get("ann_energy_pj_per_decision"):
        text += (
            f"; {energy.get('ratio', per_decision / energy['ann_energy_pj_per_decision']):.1%} of the "
            f"{energy['ann_energy_pj_per_decision']:,.0f} pJ of the equivalent {energy.get('ann', 'ANN')}"
        )
    text += "."
    if "convention" in energy:
        text += f" Convention: {energy['convention']}"
    return text


def model_card(
    model: BaseAlgorithm,
    algo: str,
    env_id: str,
    repo_id: str,
    results: dict[str, Any],
    config: dict[str, Any],
    n_timesteps: int | None = None,
    command: str = "",
    energy: dict[str, Any] | None = None,
    extra: str = "",
) -> ModelCard:
    """
    The model card: front matter (``library_name``, tags, ``model-index`` with ``mean_reward`` as
    ``"mean +/- std"``) through ``ModelCardData`` / ``EvalResult``; body with the results, the policy's spiking
    configuration, the training budget and seed, the energy per decision (when known), the command that reproduces
    the agent and three lines of Python that load and run it.

    :param model: the agent
    :param algo: algorithm name (``td3``, ``recurrent_dqn``, ``qmix``, ...)
    :param env_id: env id
    :param repo_id: the Hub repository (for the usage lines)
    :param results: ``results.json``
    :param config: ``config.yml``
    :param n_timesteps: the training budget when the run set one (rl_zoo3's ``-n``), else ``config["n_timesteps"]``
    :param command: the command that trained the agent
    :param energy: ``sb3_spiking.energy.estimate(...).to_dict()``, ``None`` when not estimated
    :param extra: more markdown
    :return: the card
    """
    policy = type(model.policy).__name__
    mean, std = results["mean_reward"], results["std_reward"]
    data = ModelCardData(
        library_name="stable-baselines3",
        tags=[*TAGS, env_id, algo, policy],
        model_name=f"{type(model).__name__}-{policy}",
        eval_results=[
            EvalResult(
                task_type="reinforcement-learning",
                task_name="reinforcement-learning",
                dataset_type=env_id,
                dataset_name=env_id,
                metric_type="mean_reward",
                metric_name="mean_reward",
                metric_value=f"{mean:.2f} +/- {std:.2f}",
            )
        ],
    )
    settings = "\n".join(f"| `{key}` | `{value}` |" for key, value in policy_settings(model).items())
    budget = n_timesteps or config.get("n_timesteps", model.num_timesteps)
    sections = [
        f"# {type(model).__name__} + {policy} on {env_id}",
        f"A spiking agent trained with [sb3-spiking](https://github.com/sb3-spiking/sb3-spiking). Mean return "
        f"{mean:.2f} +/- {std:.2f} over {results['n_eval_episodes']} deterministic episodes "
        f"(evaluated {results['eval_datetime']}).",
        "## Usage\n\n```python\n"
        "from stable_baselines3.common.evaluation import evaluate_policy\n"
        "from sb3_spiking.hub import load_from_hub\n"
        f'print(evaluate_policy(*load_from_hub("{repo_id}"), n_eval_episodes=10))\n```\n\n'
        f"or `sb3-spiking enjoy --repo-id {repo_id}`. Loading unpickles the model and normalisation files: load "
        "agents you trust.",
        f"## Spiking configuration\n\n| setting | value |\n|---|---|\n{settings}",
        f"## Training\n\n- budget: {int(budget):,} env steps ({model.num_timesteps:,} done)\n"
        f"- seed: {config.get('seed', model.seed)}\n"
        f"- observations normalised: {'yes (vec_normalize.pkl)' if config.get('normalize') else 'no'}",
    ]
    if energy:
        sections.append(f"## Energy per decision\n\n{_energy_text(energy)}")
    if command:
        sections.append(f"## Reproduce\n\n```bash\n{command}\n```")
    if extra:
        sections.append(extra)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n" + "\n\n".join(sections) + "\n")
