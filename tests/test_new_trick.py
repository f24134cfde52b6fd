"""The README's worked example of a new trick, written as this one new file: input noise, a
Gaussian perturbation of each training batch's normalised inputs. It uses four hooks (setup,
before_forward, end_of_epoch, final_metrics), draws from a generator of its own and checkpoints
it, declares its schema fragment and metric, and validates its spec; train.run and the stacked
engine were not edited for it."""
import pytest

from trickbench import stacked, train
from trickbench.config import _load_schema
from trickbench.tasks import TASKS
from trickbench.tricks import Trick, register
from trickbench.tricks.base import lazy

torch = lazy("torch")


@register("input_noise")
class InputNoise(Trick):
    """Recipe `input_noise: {std: 0.1}`: x <- x + std * N(0, 1), per pixel, on training batches."""
    schema = {"type": ["object", "null"], "additionalProperties": False, "required": ["std"],
              "properties": {"std": {"type": "number", "exclusiveMinimum": 0}}}
    metrics = {"input_noise_draws": "training batches that got input noise"}

    @classmethod
    def check(cls, spec, recipe, where):
        if not spec.get("std", 0) > 0:
            raise ValueError(f"{where}: input_noise.std must be > 0, not {spec.get('std')!r}")

    def setup(self, run):
        self.gen, self.draws = torch.Generator().manual_seed(run.seed * 1_000_003 + 7), 0  # its own stream

    def before_forward(self, run, x, y):
        self.draws += 1
        return x + self.spec["std"] * torch.randn(x.shape, generator=self.gen).to(x.device), y

    def end_of_epoch(self, run, row):
        row["input_noise_draws"] = self.draws

    def final_metrics(self, run, metrics):
        metrics["input_noise_draws"] = self.draws

    def state_dict(self):
        return {"gen": self.gen.get_state(), "draws": self.draws}

    def load_state_dict(self, state):
        self.gen.set_state(state["gen"])
        self.draws = state["draws"]


BASE = dict(TASKS.get("classify").defaults, dataset="digits", model="mlp", model_args={"depth": 2, "width": 32},
            optimizer="sgd", momentum=0.9, lr=0.05, epochs=3, batch_size=64, val_fraction=0.1)
META = {"config_hash": "test"}


def test_the_new_trick_trains_through_its_hooks_and_resumes_exactly(tmp_path, ctx):
    noisy = dict(BASE, input_noise={"std": 0.5})
    full = train.run(noisy, 0, tmp_path / "full", ctx, META)
    plain = train.run(BASE, 0, tmp_path / "plain", ctx, META)
    per_epoch = full["metrics"]["input_noise_draws"] // 3
    assert per_epoch > 0 and full["metrics"]["input_noise_draws"] == 3 * per_epoch   # every step of 3 epochs
    assert full["metrics"]["final_train_loss"] != plain["metrics"]["final_train_loss"]   # it acted
    # killed after epoch 1 and resumed: its generator came back from the checkpoint
    assert train.run(noisy, 0, tmp_path / "r", ctx, META, stop_after_epoch=1)["outcome"] == "stopped"
    resumed = train.run(noisy, 0, tmp_path / "r", ctx, META)
    assert train.learned(resumed["metrics"]) == train.learned(full["metrics"])
    # absent: not active, the baseline to the bit
    again = train.run(dict(BASE, input_noise=None), 0, tmp_path / "none", ctx, META)
    assert train.learned(again["metrics"]) == train.learned(plain["metrics"])


def test_the_new_trick_validates_its_spec_and_declares_its_key_and_metric():
    with pytest.raises(ValueError, match="input_noise.std must be > 0"):
        TASKS.get("classify").check(dict(BASE, input_noise={"std": 0}), "claim x, arm y")
    assert "input_noise_draws" in TASKS.get("classify").metrics
    assert _load_schema("claim.schema.yaml")["$defs"]["recipe"]["properties"]["input_noise"] == InputNoise.schema


def test_the_stacked_engine_refuses_it_by_name(tmp_path, ctx):
    noisy = dict(BASE, input_noise={"std": 0.5})
    assert stacked.unsupported(noisy) == ["input_noise"] and not stacked.supports(noisy)
    with pytest.raises(ValueError, match="does not implement input_noise"):
        stacked.run_stacked(noisy, [0, 1], [tmp_path / "a", tmp_path / "b"], ctx, META)
