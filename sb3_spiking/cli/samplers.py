"""
Optuna samplers of the spiking hyperparameters, on top of rl_zoo3's samplers of the algorithm's own
(``rl_zoo3.hyperparams_opt.HYPERPARAMS_SAMPLER``): surrogate and its width, ``spike_ts``, population sizes, hidden
sizes and neuron type of Pop-SAN actors; hidden sizes and ``beta`` of CVTC Q-networks; core, hidden size, threshold,
``input_bias`` and surrogate of the GRSN / LIF recurrent cores. The sampled values go into ``policy_kwargs`` on top
of the config's (whatever the config sets and the sampler does not, stays). QMIX, which rl_zoo3 has no sampler for,
has its own (:class:`QMIXSampler`): learning rate, batch, epsilon schedule, mixer width, agent core and its settings.
"""

from __future__ import annotations

from typing import Any

import optuna

BASE_SAMPLERS = {"ddqn": "dqn", "recurrent_dqn": "dqn", "recurrent_td3": "td3"}
"""Our algorithms sampled like the rl_zoo3 algorithm they extend."""

SURROGATES = ("rectangular", "triangular", "trapezoidal")
"""The surrogate shapes of the seeds (Pop-SAN's rectangular, and the two compared with it)."""

HIDDEN_SIZES = {"small": [64, 64], "medium": [256, 256]}


def sample_surrogate(trial: optuna.Trial) -> dict[str, Any]:
    """
    :param trial: the trial
    :return: a surrogate dict: shape and width (the support of its derivative around the threshold)
    """
    name = trial.suggest_categorical("surrogate", list(SURROGATES))
    width = trial.suggest_float("surrogate_width", 0.2, 1.0, log=True)
    if name == "trapezoidal":
        return {"name": name, "w1": width / 2, "w2": width}
    return {"name": name, "a": width}


def sample_popsan(trial: optuna.Trial) -> dict[str, Any]:
    """:return: Pop-SAN ``policy_kwargs``"""
    return {
        "neuron": trial.suggest_categorical("neuron", ["lif", "dynamic"]),
        "spike_ts": trial.suggest_categorical("spike_ts", [3, 5, 8]),
        "encoder_pop_dim": trial.suggest_categorical("encoder_pop_dim", [5, 10, 20]),
        "decoder_pop_dim": trial.suggest_categorical("decoder_pop_dim", [5, 10, 20]),
        "hidden_sizes": HIDDEN_SIZES[trial.suggest_categorical("hidden_sizes", list(HIDDEN_SIZES))],
        "surrogate": sample_surrogate(trial),
    }


def sample_cvtc(trial: optuna.Trial) -> dict[str, Any]:
    """:return: CVTC ``policy_kwargs``"""
    sizes = {"32": [32], "64": [64], "32x32": [32, 32]}
    return {
        "hidden_sizes": sizes[trial.suggest_categorical("hidden_sizes", list(sizes))],
        "beta": trial.suggest_float("beta", 1e-3, 1e-1, log=True),
    }


def sample_core(trial: optuna.Trial) -> dict[str, Any]:
    """:return: recurrent core settings (threshold, input bias, surrogate)"""
    return {
        "threshold": trial.suggest_float("threshold", 0.5, 1.5),
        "input_bias": trial.suggest_float("input_bias", 0.0, 1.5),
        "surrogate": sample_surrogate(trial),
    }


def sample_spiking(trial: optuna.Trial, algo: str, policy: Any) -> dict[str, Any]:
    """
    :param trial: the trial
    :param algo: rl_zoo3 algorithm name
    :param policy: the config's policy (name or class)
    :return: the spiking ``policy_kwargs`` to sample for this algorithm and policy (empty for non-spiking ones)
    """
    name = policy if isinstance(policy, str) else getattr(policy, "__name__", "")
    if name == "SpikingPopPolicy":
        return sample_popsan(trial)
    if name == "CVTCPolicy":
        return sample_cvtc(trial)
    if algo in ("recurrent_td3", "recurrent_dqn"):
        core = trial.suggest_categorical("core", ["grsn", "lif"])
        hidden = trial.suggest_categorical("hidden_size", [64, 128, 256])
        return {"core": core, "hidden_size": hidden, "core_kwargs": sample_core(trial)}
    if algo == "ppo_lstm" and name in ("GRSNPolicy", "LIFRecurrentPolicy"):
        return {"cell_kwargs": sample_core(trial)}
    return {}


class SpikingSampler:
    """
    An entry of rl_zoo3's ``HYPERPARAMS_SAMPLER``: the base sampler's values, with the spiking ones merged into
    ``policy_kwargs`` over the config's.

    :param algo: rl_zoo3 algorithm name
    :param hyperparams: the config entry as the experiment manager prepared it (``policy``, ``policy_kwargs``)
    """

    def __init__(self, algo: str, hyperparams: dict[str, Any]) -> None:
        from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER

        base = BASE_SAMPLERS.get(algo, algo)
        if base not in HYPERPARAMS_SAMPLER:
            raise ValueError(f"rl_zoo3 has no hyperparameter sampler for {algo!r}; allowed: "
                             f"{sorted({*HYPERPARAMS_SAMPLER, *BASE_SAMPLERS})}")  # fmt: skip
        base_sampler = HYPERPARAMS_SAMPLER[base]
        self.base = base_sampler.base if isinstance(base_sampler, SpikingSampler) else base_sampler
        self.algo = algo
        self.policy = hyperparams.get("policy")
        self.policy_kwargs = dict(hyperparams.get("policy_kwargs") or {})

    def __call__(self, trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
        """
        :return: the sampled hyperparameters (rl_zoo3 sampler signature)
        """
        params = self.base(trial, n_actions, n_envs, additional_args)
        sampled = dict(params.pop("policy_kwargs", {}) or {})
        spiking = sample_spiking(trial, self.algo, self.policy)
        if self.policy == "CVTCPolicy":
            sampled.pop("net_arch", None)  # CVTC's sizes are hidden_sizes
        params["policy_kwargs"] = {**self.policy_kwargs, **sampled, **spiking}
        return params


class QMIXSampler:
    """
    QMIX's hyperparameters for one trial, on top of a ``qmix.yml`` entry: learning rate, batch (episodes), epsilon
    schedule (final epsilon, decay as a fraction of the budget), mixer ``embed_dim``, agent core (``grsn``, ``gru``,
    ``lif``) and, for the spiking cores, threshold, ``input_bias`` and surrogate (:func:`sample_core`). Dict-valued
    keys are merged into the entry's (``agent_kwargs.fc_dim`` stays); a GRU core gets no ``core_kwargs``.

    :param entry: the config entry (literal strings parsed)
    :param n_timesteps: env steps per trial (the epsilon decay is a fraction of them)
    """

    CORES = ("grsn", "gru", "lif")

    def __init__(self, entry: dict[str, Any], n_timesteps: int) -> None:
        self.entry = entry
        self.n_timesteps = n_timesteps

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        """
        :param trial: the trial
        :return: the entry with the sampled values
        """
        core = trial.suggest_categorical("agent", list(self.CORES))
        fraction = trial.suggest_float("exploration_fraction", 0.05, 0.5)
        mixer_kwargs = {**(self.entry.get("mixer_kwargs") or {}),
                        "embed_dim": trial.suggest_categorical("embed_dim", [16, 32, 64])}  # fmt: skip
        agent_kwargs = dict(self.entry.get("agent_kwargs") or {})
        if core == "gru":
            agent_kwargs.pop("core_kwargs", None)  # threshold, input_bias, surrogate: spiking cores only
        else:
            agent_kwargs["core_kwargs"] = {**(agent_kwargs.get("core_kwargs") or {}), **sample_core(trial)}
        return {
            **self.entry,
            "agent": core,
            "learning_rate": trial.suggest_float("learning_rate", 1e-4, 3e-3, log=True),
            "batch_size": trial.suggest_categorical("batch_size", [8, 16, 32, 64]),
            "exploration_final_eps": trial.suggest_float("exploration_final_eps", 0.01, 0.2),
            "exploration_steps": int(fraction * self.n_timesteps),
            "mixer_kwargs": mixer_kwargs,
            "agent_kwargs": agent_kwargs,
        }


def register_sampler(algo: str, hyperparams: dict[str, Any]) -> SpikingSampler:
    """
    Put a :class:`SpikingSampler` for ``algo`` into rl_zoo3's ``HYPERPARAMS_SAMPLER`` (which its
    ``ExperimentManager.objective`` reads).

    :param algo: rl_zoo3 algorithm name
    :param hyperparams: the config entry as the experiment manager prepared it
    :return: the sampler
    """
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER

    sampler = SpikingSampler(algo, hyperparams)
    HYPERPARAMS_SAMPLER[algo] = sampler
    return sampler
