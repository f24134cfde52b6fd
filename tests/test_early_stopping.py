"""The patience rule, applied to a validation history."""
import pytest

from trickbench.tasks import TASKS
from trickbench.tricks import early_stopping as es


def test_stops_after_patience_epochs_without_improvement_and_keeps_the_best():
    val = [0.5, 0.7, 0.69, 0.71, 0.70, 0.70, 0.72, 0.9]
    # best 0.71 at epoch 4; epochs 5, 6 do not beat it: patience 2 stops after epoch 6
    assert es.stop(val, 2) == (6, 4)
    assert es.stop(val, 3) == (8, 8)          # never triggered: the last epoch, best kept
    assert es.stop([0.8, 0.8, 0.8], 1) == (2, 1)   # a tie is no improvement; the earlier epoch kept
    with pytest.raises(ValueError, match="at least 1"):
        es.stop(val, 0)


def test_metrics_compare_the_kept_model_with_the_last_epoch_and_hindsight():
    hist = [{"val_acc": v, "test_acc": t} for v, t in [(0.5, 0.52), (0.8, 0.79), (0.7, 0.81), (0.6, 0.70)]]
    m = es.metrics(hist, {"patience": 2})
    assert m["early_stop_epoch"] == 4 and m["test_acc_early_stop"] == 0.79
    assert m["early_stop_gain"] == pytest.approx(0.79 - 0.70)
    assert m["early_stop_regret"] == pytest.approx(0.81 - 0.79)
    assert es.metrics(hist, None) == {} and es.metrics([{"test_acc": 0.5}], {"patience": 2}) == {}


def test_bad_early_stopping_settings_are_rejected_before_training():
    task = TASKS.get("classify")
    base = dict(task.defaults, dataset="digits", model="mlp", optimizer="sgd", lr=0.1, epochs=3, batch_size=32)
    with pytest.raises(ValueError, match="validation split"):
        task.check(dict(base, early_stopping={"patience": 3}), "here")
    with pytest.raises(ValueError, match="whole number"):
        task.check(dict(base, val_fraction=0.2, early_stopping={"patience": 0}), "here")
    task.check(dict(base, val_fraction=0.2, early_stopping={"patience": 3}), "here")


def test_prechelt_generalisation_loss_stops_after_the_first_epoch_beyond_alpha():
    from trickbench.tricks import early_stopping as es
    losses = [1.0, 0.8, 0.7, 0.72, 0.74, 0.6, 0.64]
    # GL(4) = 100 (0.72 / 0.7 - 1) = 2.9, GL(5) = 5.7 > 5: stop after epoch 5, keep epoch 3
    assert es.gl_stop(losses, 5.0) == (5, 3)
    assert es.gl_stop(losses, 10.0) == (7, 6)              # never beyond 10 %: the last epoch, keep the minimum
    hist = [{"val_acc": 0.5, "val_loss": v, "test_acc": a} for v, a in zip(losses, [.1, .2, .3, .4, .5, .6, .7])]
    m = es.metrics(hist, {"patience": 10, "gl_alpha": 5})
    assert (m["test_acc_gl"], m["gl_stop_epoch"]) == (0.3, 5) and abs(m["gl_gain"] - (0.3 - 0.7)) < 1e-12
    assert "test_acc_gl" not in es.metrics(hist, {"patience": 10})   # only when asked for
